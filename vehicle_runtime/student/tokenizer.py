"""Reasoning token ids → text, with the manifest's tokenizer.

Two formats: a Hugging Face `tokenizers` JSON file (*.json), or a plain vocabulary file with one
token per line (id = line number; tokens joined by spaces). Plain vocabularies treat `<pad>`,
`<bos>` as skipped and `<eos>` as the end of the text.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:
    from tokenizers import Tokenizer as HFTokenizer

SPECIAL_SKIPPED = ("<pad>", "<bos>", "<unk>")
END = "<eos>"
UNITS = ("m", "m/s", "s", "km/h", "deg")  # a unit token is always preceded by its number


def _is_number(word: str) -> bool:
    try:
        float(word)
    except ValueError:
        return False
    return True


def phrase_complete(text: str) -> bool:
    """True when every number in `text` carries its unit and every unit its number: "following the lead
    vehicle m m ahead" (a number predicted as a unit) is not a phrase to show anyone."""
    words = text.split()
    for i, w in enumerate(words):
        if w in UNITS and (i == 0 or not _is_number(words[i - 1])):
            return False
        if _is_number(w) and (i + 1 == len(words) or words[i + 1].rstrip(":,.") not in UNITS):
            return False
    return True


class Tokenizer:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._hf: HFTokenizer | None = None  # a Hugging Face tokenizer, or else
        self._vocab: list[str] = []  # a plain vocabulary
        if self.path.suffix == ".json":
            from tokenizers import Tokenizer as HFTokenizer  # imported only when used

            self._hf = HFTokenizer.from_file(str(self.path))
            self.vocab_size = self._hf.get_vocab_size()
        else:
            self._vocab = self.path.read_text().splitlines()
            self.vocab_size = len(self._vocab)
        if self.vocab_size == 0:
            raise ValueError(f"{self.path}: empty vocabulary")

    def decode(self, ids: Sequence[int]) -> str:
        ids = [int(i) for i in ids]
        bad = [i for i in ids if not 0 <= i < self.vocab_size]
        if bad:
            raise ValueError(f"token id(s) {bad[:5]} outside the vocabulary of {self.vocab_size}")
        if self._hf is not None:
            return self._hf.decode(ids, skip_special_tokens=True)
        words = []
        for i in ids:
            token = self._vocab[i]
            if token == END:
                break
            if token not in SPECIAL_SKIPPED:
                words.append(token)
        return " ".join(words)

    def encode(self, text: str) -> list[int]:
        """Plain vocabularies only need this for tests and training tools."""
        if self._hf is not None:
            return self._hf.encode(text).ids
        index = {t: i for i, t in enumerate(self._vocab)}
        unk = index.get("<unk>")
        out = []
        for word in text.split():
            token_id = index.get(word, unk)
            if token_id is None:
                raise ValueError(f"word '{word}' is not in the vocabulary and there is no <unk>")
            out.append(token_id)
        return out

"""The student's vocabulary and reason encoding (tools/distill/spec.py)."""

from tools.distill import spec


def test_vocabulary_is_deterministic_and_holds_every_word():
    reasons = ["following the lane at 8 m/s", "lead vehicle braking 15 m ahead: slowing down"]
    a, b = spec.build_vocab(reasons), spec.build_vocab(list(reversed(reasons)))
    assert a == b
    assert a[:3] == ["<pad>", "<eos>", "<unk>"]
    assert {"ahead:", "braking", "m/s", "15", "60"} <= set(a)
    assert len(a) == len(set(a))


def test_encode_ends_with_eos_pads_and_maps_unknown_words():
    vocab = spec.build_vocab(["following the lane at 8 m/s"])
    ids = spec.encode("following the lane at 8 m/s", vocab)
    assert len(ids) == spec.MAX_TOKENS
    assert [vocab[i] for i in ids[:7]] == ["following", "the", "lane", "at", "8", "m/s", "<eos>"]
    assert set(ids[7:]) == {vocab.index("<pad>")}
    assert vocab[spec.encode("following a ghost", vocab)[1]] == "<unk>"
    long = " ".join(["lane"] * 30)
    assert spec.encode(long, vocab)[-1] == vocab.index("<eos>")

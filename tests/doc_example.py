"""The model builder printed in docs/model_contract.md, run as printed: the code block after the
`<!-- example: build -->` marker is executed as a module."""

from __future__ import annotations

import re
import types
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "model_contract.md"


def load() -> types.ModuleType:
    text = DOC.read_text()
    found = re.search(r"<!-- example: build -->\s*```python\n(.*?)\n```", text, re.S)
    assert found, f"{DOC}: no example block after '<!-- example: build -->'"
    module = types.ModuleType("model_contract_example")
    exec(compile(found.group(1), str(DOC), "exec"), module.__dict__)  # noqa: S102 - our own document
    return module

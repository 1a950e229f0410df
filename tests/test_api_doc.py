"""docs/api.md's code blocks run, in order, in one namespace, from the repository root:
the documented Python API cannot drift from the code (each block asserts what it shows)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BLOCKS = re.findall(r"```python\n(.*?)```", (ROOT / "docs/api.md").read_text(), re.DOTALL)


def test_docs_have_code():
    assert len(BLOCKS) >= 5


def test_api_doc_blocks_run(monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    shutil.rmtree(ROOT / "cpmap-out" / "api-cache", ignore_errors=True)  # the doc's first solve is fresh
    namespace: dict = {"__name__": "api_doc"}
    for k, block in enumerate(BLOCKS):
        try:
            exec(compile(block, f"docs/api.md block {k + 1}", "exec"), namespace)  # noqa: S102 -- the doc's own code
        except Exception as e:  # noqa: BLE001 -- say which block failed
            pytest.fail(f"docs/api.md block {k + 1} failed: {type(e).__name__}: {e}\n{block}")
    out = capsys.readouterr().out
    assert "OPTIMAL" in out and "AlexNet:" in out


def test_public_names_resolve():
    import cpmap

    for name in cpmap.__all__:
        assert getattr(cpmap, name) is not None, name
    with pytest.raises(AttributeError):
        cpmap.no_such_name  # noqa: B018

"""nn_dataflow 2.1 for the tests that compare the bundled models with its definitions.

nn_dataflow 2.1 needs sympy 1.9 (newer sympy breaks it), so it cannot share cpmap's
environment: :func:`nn_dataflow_python` makes a venv of its own on first use (about 30 s
and 170 MB, kept under ``$CPMAP_TEST_CACHE`` or ``~/.cache/cpmap-tests`` for later runs)
and :func:`nn_dataflow_networks` runs tests/nn_dataflow_dump.py in it.  Where the venv
cannot be made (no network, no PyPI), the tests skip and say why.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from functools import lru_cache
from pathlib import Path

import pytest

PACKAGES = ("nn-dataflow==2.1", "sympy==1.9")
HERE = Path(__file__).resolve().parent


def venv_dir() -> Path:
    root = Path(os.environ.get("CPMAP_TEST_CACHE") or Path.home() / ".cache" / "cpmap-tests")
    return root / "nn_dataflow-2.1-sympy-1.9"


@lru_cache(maxsize=1)
def nn_dataflow_python() -> str:
    """The Python of a venv with nn_dataflow 2.1; pytest.skip with the reason if it cannot
    be made."""
    target = venv_dir()
    python = target / "bin" / "python"
    if python.exists() and subprocess.run([str(python), "-c", "import nn_dataflow.nns"],
                                          check=False, capture_output=True).returncode == 0:
        return str(python)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".nnd-", dir=target.parent))
    try:
        steps = ([sys.executable, "-m", "venv", str(tmp)],
                 [str(tmp / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                  *PACKAGES])
        for cmd in steps:
            proc = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=600)
            if proc.returncode:
                last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
                pytest.skip(f"cannot make a venv with {' '.join(PACKAGES)} (needs PyPI): {last}")
        shutil.rmtree(target, ignore_errors=True)
        os.replace(tmp, target)  # a half-made venv is never left under the final name
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return str(python)


@lru_cache(maxsize=8)
def nn_dataflow_networks(*names: str) -> dict:
    """tests/nn_dataflow_dump.py's JSON for ``names`` (network names, or lstm:HIDDEN)."""
    proc = subprocess.run([nn_dataflow_python(), str(HERE / "nn_dataflow_dump.py"), *names],
                          check=False, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)

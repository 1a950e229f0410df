"""Hostile YAML: alias bombs, deep nesting, huge scalars and files, recursive aliases and
very large workloads are refused by the one loader (cpmap/spec/loader.py) with a one-line
error naming the file and the line -- before the document is built, so memory stays
bounded -- and the limits themselves are where docs/specs.md says.  Times are measured by
bench/hostile_yaml.py, not here."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import tracemalloc
from pathlib import Path

import pytest

from cpmap.core.errors import SpecError
from cpmap.spec.loader import MAX_DEPTH, MAX_FILE_BYTES, MAX_NODES, MAX_SCALAR_CHARS, read_yaml
from cpmap.spec.workload import load_workload

ROOT = Path(__file__).resolve().parent.parent
PEAK_BYTES = 64 * 2**20
"""Memory any refusal may take (tracemalloc peak): the 5 MiB scalar file is read whole."""


def alias_bomb(levels: int = 9, width: int = 10) -> str:
    """'Billion laughs': each level lists the previous one ``width`` times (width**levels values)."""
    lines = [f"a0: &a0 [{', '.join(['lol'] * width)}]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * width)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


def conv_layers(n: int) -> str:
    rows = "".join(f"    - {{name: l{i}, type: conv, K: 16, C: 8, P: 14, Q: 14, R: 3, S: 3}}\n" for i in range(n))
    return f"workload:\n  name: big\n  inputs: [x]\n  layers:\n{rows}"


HOSTILE = {
    "alias-bomb": (alias_bomb(), "values with every alias expanded", 5),
    "flow-nesting": ("[" * 100_000 + "]" * 100_000, f"at most {MAX_DEPTH} levels of nesting", 1),
    "block-nesting": ("".join("  " * i + "a:\n" for i in range(1000)), "levels of nesting", MAX_DEPTH + 1),
    "big-scalar": ("workload:\n  name: " + "x" * (5 * 2**20) + "\n", "values of at most 64 KiB", 2),
    "long-number": ("workload:\n  batch: " + "9" * 5000 + "\n", "numbers of at most 100 digits", 2),
    "recursive-alias": ("a: &a [1, *a]\n", "no recursive alias", 1),
    "too-many-layers": (conv_layers(6000), f"at most {MAX_NODES:,} values", None),
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_documents_are_refused_with_bounded_memory(tmp_path, name):
    text, expected, line = HOSTILE[name]
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    tracemalloc.start()
    try:
        with pytest.raises(SpecError) as err:
            read_yaml(str(path))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    msg = str(err.value)
    assert msg.startswith(f"{path}: expected") and expected in msg and "\n" not in msg
    if line is not None:
        assert msg.endswith(f"at line {line}")
    assert peak < PEAK_BYTES, f"{name}: {peak / 2**20:.1f} MiB"


def test_a_small_bomb_is_an_ordinary_document():
    """The same shape with 3 x 3 x 3 values loads: aliases themselves are fine."""
    assert read_yaml_text(alias_bomb(levels=3, width=3))["a2"] == [[["lol"] * 3] * 3] * 3


def read_yaml_text(text: str):
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as fh:
        fh.write(text)
    try:
        return read_yaml(fh.name)
    finally:
        Path(fh.name).unlink()


def test_limits_are_inclusive_just_below():
    """Documents at the limits load: nesting of MAX_DEPTH, a scalar of MAX_SCALAR_CHARS,
    a 100-digit number, aliases that expand to fewer than MAX_NODES values."""
    nested = read_yaml_text("[" * MAX_DEPTH + "1" + "]" * MAX_DEPTH)
    for _ in range(MAX_DEPTH):
        (nested,) = nested
    assert nested == 1
    assert read_yaml_text("x: " + "y" * MAX_SCALAR_CHARS + "\n")["x"] == "y" * MAX_SCALAR_CHARS
    assert read_yaml_text("x: " + "9" * 100 + "\n")["x"] == 10**100 - 1
    width = 10  # level i expands to 1 + 10 * (level i-1): 11, 111, 1111, 11111 (under), 111111 (over)
    assert len(read_yaml_text(alias_bomb(levels=4, width=width))["a3"]) == width
    with pytest.raises(SpecError, match="alias"):
        read_yaml_text(alias_bomb(levels=5, width=width))


def test_anchors_and_merge_keys_still_work():
    doc = read_yaml_text("base: &b {read_energy_pj: 1, write_energy_pj: 2}\n"
                         "level: {<<: *b, name: RF}\nagain: [*b, *b]\n")
    assert doc["level"] == {"read_energy_pj": 1, "write_energy_pj": 2, "name": "RF"}
    assert doc["again"] == [doc["base"], doc["base"]]


def test_file_size_limit(tmp_path):
    path = tmp_path / "huge.yaml"
    with path.open("w") as fh:  # comments only: cheap to parse, but over the limit
        line = "# " + "c" * 1000 + "\n"
        for _ in range(MAX_FILE_BYTES // len(line) + 2):
            fh.write(line)
    with pytest.raises(SpecError, match=f"at most {MAX_FILE_BYTES // 2**20} MiB"):
        read_yaml(str(path))


def test_thousands_of_layers_load(tmp_path):
    """5,000 one-line conv layers (85,000 values) are under the limit and load in full;
    with the old per-layer scan of the later layers this took minutes (quadratic)."""
    path = tmp_path / "5k.yaml"
    path.write_text(conv_layers(5000))
    wl = load_workload(str(path))
    assert len(wl.layers) == 5000 and wl.layers[-1].inputs == ("l4998",)


def test_non_utf8_names_the_byte_and_line(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"workload:\n  name: caf\xe9\n")
    with pytest.raises(SpecError, match="got byte 0xe9 at line 2"):
        read_yaml(str(path))
    nul = tmp_path / "nul.yaml"
    nul.write_bytes(b"workload:\n  name: a\x00b\n")
    with pytest.raises(SpecError, match="invalid YAML"):
        read_yaml(str(nul))


def test_cli_refuses_a_bomb_on_one_line(tmp_path):
    path = tmp_path / "bomb.yaml"
    path.write_text(alias_bomb())
    proc = subprocess.run([sys.executable, "-m", "cpmap", "check", str(path)], capture_output=True, text=True,
                          cwd=ROOT, timeout=120, check=False)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith(f"cpmap: error: {path}: expected at most")


@pytest.mark.parametrize("name", ["alias-bomb", "flow-nesting", "big-scalar", "recursive-alias"])
@pytest.mark.parametrize("command", ["check", "sweep"])
def test_sweep_files_go_through_the_same_loader(tmp_path, name, command):
    """A sweep file (cpmap sweep, a later file kind) is read by the same loader: the hostile
    documents, under a `sweep:` key, are refused on one line before any point is built."""
    from contextlib import redirect_stderr, redirect_stdout
    from io import StringIO

    from cpmap.cli import main

    text, expected, _ = HOSTILE[name]
    body = "".join("  " + ln + "\n" for ln in text.splitlines()) if "\n" in text else f"  x: {text}\n"
    path = tmp_path / "sweep.yaml"
    path.write_text("sweep:\n" + body)
    err = StringIO()
    with redirect_stderr(err), redirect_stdout(StringIO()):
        code = main([command, str(path), *(["--out", str(tmp_path / "out"), "-q"] if command == "sweep" else [])])
    assert code == 2 and err.getvalue().count("\n") == 1, err.getvalue()
    assert err.getvalue().startswith(f"cpmap: error: {path}: expected") and expected in err.getvalue()
    assert not (tmp_path / "out").exists()

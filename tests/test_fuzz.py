"""Fuzzing: a 500-case sample of bench/fuzz.py's mutation engine (tests/fuzzing.py) in
the default run, the fuzzer's own judge, and one regression test per class of traceback
or unclear message the fuzzer found (each fixed at its root)."""

from __future__ import annotations

import collections
import contextlib
import io

import pytest
import yaml
from fuzzing import MAPPING, ROOT, judge, judge_sweep_report, make_case, run_case
from solvekit import TINY_ARCH, TINY_WORKLOAD, write

from cpmap.cli import main

SAMPLE_SEED, SAMPLE_CASES = 1, 500
"""bench/fuzz.py --seed 0 runs the 10,000 committed cases; the test samples another seed."""


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CPMAP_CACHE", str(tmp_path / "cache"))


def test_fuzz_sample_has_no_traceback_hang_or_unclear_message(tmp_path):
    outcomes = []
    for i in range(SAMPLE_CASES):
        work = tmp_path / f"case{i}"
        work.mkdir()
        outcomes.append(run_case(make_case(SAMPLE_SEED, i, work), work))
    failures = [f"case {o.index} {o.target}/{o.command} {o.verdict}: {o.detail} ops={o.ops}"
                for o in outcomes if o.failed]
    assert not failures, f"{len(failures)} of {SAMPLE_CASES} failed (replay: bench/fuzz.py --seed " \
                         f"{SAMPLE_SEED} --replay I):\n" + "\n".join(failures[:20])
    # the sample really exercises everything: every subcommand, every file kind, both outcomes
    assert {o.command for o in outcomes} == {"check", "evaluate", "solve", "compare", "export", "bound", "import",
                                             "sweep"}
    assert {o.target for o in outcomes} == {"arch", "workload", "mapping", "solve", "cli", "timeloop", "claims",
                                            "sweep"}
    bases = collections.Counter(op for o in outcomes for op in o.ops if op.startswith("base:"))
    assert all(bases[f"base:{a}+conv-small"] for a in ("nnd-4x4", "tetris-t16", "mesh-channels", "interstellar"))
    accepted = collections.Counter(o.command for o in outcomes if o.verdict == "ok-accepted")
    assert accepted["sweep"] > 0 and accepted["solve"] > 0  # valid sweeps and solves run to the end
    verdicts = collections.Counter(o.verdict for o in outcomes)
    assert verdicts["ok-error"] > SAMPLE_CASES // 2 and verdicts["ok-accepted"] > 5
    assert collections.Counter(o.code for o in outcomes)[1] > 0  # invalid mappings / infeasible layers


def test_cases_replay_identically(tmp_path):
    a, b = make_case(0, 123, tmp_path), make_case(0, 123, tmp_path)
    assert (a.files, a.argv, a.ops) == (b.files, b.argv, b.ops)
    assert make_case(0, 124, tmp_path).files != a.files or make_case(0, 124, tmp_path).argv != a.argv


@pytest.mark.parametrize("code, err, verdict", [
    (2, "cpmap: error: {w}/arch.yaml: architecture.levels[0].capacity: expected a size, got 'x'\n", "ok-error"),
    (2, "cpmap: error: {w}/arch.yaml: invalid YAML at line 3, column 1: found a tab\n", "ok-error"),
    (2, "cpmap: error: {w}/m.yaml: weird: unknown key; expected one of: layer, mapping\n", "ok-error"),
    (2, "cpmap: error: --layers: expected comma-separated layer names\n", "ok-error"),
    (2, "cpmap: error: workload 'w' has no layer 'x'\n", "unclear"),  # no file, no flag
    (2, "cpmap: error: {w}/arch.yaml: something went wrong\n", "unclear"),  # no field
    (2, "", "unclear"),
    (1, "cpmap: 1 of 1 layers have no mapping: conv (INFEASIBLE: )\n", "unclear"),  # no reason
    (1, "cpmap: 1 of 1 layers have no mapping: conv (ERROR: internal error: TypeError: x)\n", "internal"),
    (0, "Traceback (most recent call last):\n  File x\n", "traceback"),
    (3, "", "bad-exit"),
])
def test_the_judge(code, err, verdict):
    w = "/tmp/work"
    assert judge(code, "", err.replace("{w}", w), w)[0] == verdict


@pytest.mark.parametrize("status, reason, verdict", [
    ("OPTIMAL", "", None), ("UNKNOWN", "time limit reached before any mapping", None),
    ("UNKNOWN", "", "unclear"), ("INFEASIBLE", " ", "unclear"), ("ERROR", "internal error: TypeError: x", "internal"),
])
def test_the_judge_reads_the_sweep_report(tmp_path, status, reason, verdict):
    """cpmap sweep prints only a count of incomplete points: the judge reads sweep.json."""
    import json

    assert judge_sweep_report(tmp_path) is None  # no report: nothing to judge
    (tmp_path / "out").mkdir()
    layer = {"name": "conv", "status": status, "reason": reason}
    (tmp_path / "out/sweep.json").write_text(json.dumps({"points": [{"name": "p0", "networks": [{"layers": [layer]}]}]}))
    got = judge_sweep_report(tmp_path)
    assert (got and got[0]) == verdict


def _run(*argv: str) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(list(argv))
    return code, err.getvalue()


def _workload_with(**fields) -> dict:
    wl = yaml.safe_load(yaml.safe_dump(TINY_WORKLOAD))
    wl["workload"]["layers"][0].update(fields)
    return wl


# (id, file kind, document, field path in the message, expected text): what the fuzzer found
FOUND = [
    ("type-mapping", "workload", _workload_with(type={"a": 1}), "workload.layers[0].type",
     "expected one of conv | fc | gemm | pool | eltwise, got a mapping"),
    ("type-list", "workload", _workload_with(type=["fc"]), "workload.layers[0].type",
     "expected one of conv | fc | gemm | pool | eltwise, got a list ['fc']"),
    ("batch-dim-mapping", "workload",
     {"workload": {"name": "g", "layers": [{"name": "g", "type": "gemm", "M": 2, "N": 2, "K": 2,
                                            "batch_dim": {"M": 1}}]}},
     "workload.layers[0].batch_dim", "expected one of M | N | B"),
    ("keeps-mapping", "arch",
     {"architecture": {**TINY_ARCH["architecture"],
                       "levels": [{**TINY_ARCH["architecture"]["levels"][0], "keeps": [{"W": 1}]},
                                  *TINY_ARCH["architecture"]["levels"][1:]]}},
     "architecture.levels[0].keeps[0]", "expected one of W, I, O, got a mapping"),
]


@pytest.mark.parametrize("name", [c[0] for c in FOUND])
def test_found_tracebacks_are_clean_errors(tmp_path, name):
    _, kind, doc, field, expected = next(c for c in FOUND if c[0] == name)
    path = write(tmp_path / f"{kind}.yaml", doc)
    code, err = _run("check", str(path))
    assert code == 2 and err == f"cpmap: error: {path}: {field}: {expected}" + err.split(expected, 1)[1]
    assert err.count("\n") == 1


def test_huge_integers(tmp_path):
    """A 90-digit integer is a (finite) number -- math.isfinite overflowed on big ones --
    so a 90-digit bandwidth is accepted; a 401-digit energy is refused by the loader, on
    its line."""
    arch = yaml.safe_load(yaml.safe_dump(TINY_ARCH))
    arch["architecture"]["levels"][2]["read_bandwidth"] = 10**89
    path = write(tmp_path / "arch.yaml", arch)
    assert _run("check", str(path)) == (0, "")
    arch["architecture"]["levels"][2]["write_energy_pj"] = 10**400
    write(path, arch)
    code, err = _run("check", str(path))
    line = 1 + next(i for i, ln in enumerate(path.read_text().splitlines()) if "0" * 400 in ln)
    assert code == 2 and err.strip().endswith(f"expected numbers of at most 100 digits, got one of 401 at line {line}")


def test_objective_mapping_in_solve_spec(tmp_path):
    write(tmp_path / "arch.yaml", TINY_ARCH)
    write(tmp_path / "wl.yaml", TINY_WORKLOAD)
    spec = write(tmp_path / "run.yaml", {"solve": {"arch": "arch.yaml", "workload": "wl.yaml",
                                                   "objective": {"energy": 1}}})
    code, err = _run("check", str(spec))
    assert code == 2 and f"{spec}: solve.objective: expected one of energy | delay | edp | pareto, got a mapping" in err


def test_nul_byte_names_the_line(tmp_path):
    path = tmp_path / "nul.yaml"
    path.write_bytes(b"workload:\n  name: a\x00b\n")
    code, err = _run("check", str(path))
    assert code == 2 and err.strip() == (f"cpmap: error: {path}: invalid YAML at line 2: control character "
                                         "U+0000 is not allowed; expected printable text")


def test_mapping_layer_errors_name_flag_or_field(tmp_path):
    arch, wl = write(tmp_path / "arch.yaml", TINY_ARCH), write(tmp_path / "wl.yaml", TINY_WORKLOAD)
    mapping = write(tmp_path / "m.yaml", {"layer": "nope", "mapping": MAPPING["mapping"]})
    code, err = _run("check", str(mapping), "--arch", str(arch), "--workload", str(wl))
    assert code == 2 and f"{mapping}: layer: expected a layer of workload tinynet (fc1, conv1" in err
    code, err = _run("check", str(mapping), "--arch", str(arch), "--workload", str(wl), "--layer", "zz")
    assert code == 2 and "cpmap: error: --layer: expected a layer of workload tinynet" in err and "got 'zz'" in err


def test_directory_instead_of_file(tmp_path):
    d = tmp_path / "arch.yaml"
    d.mkdir()
    code, err = _run("check", str(d))
    assert code == 2 and err.strip() == f"cpmap: error: {d}: cannot read file: Is a directory"




@pytest.mark.parametrize("edit, field", [
    (lambda wl: wl["workload"]["layers"][0].update(K=10**30), "workload.layers[0].K"),
    (lambda wl: wl["workload"].update(batch=10**10), "workload.batch"),
])
def test_huge_dims_are_refused_not_factored_forever(tmp_path, edit, field):
    """A dim of 10**30 (past int64, and 10**15 trial divisions to factor) hung the solver's
    model builder; dims are bounded by MAX_DIM_SIZE."""
    wl = yaml.safe_load(yaml.safe_dump(TINY_WORKLOAD))
    edit(wl)
    path = write(tmp_path / "wl.yaml", wl)
    code, err = _run("check", str(path))
    assert code == 2 and f"{path}: {field}: expected a positive integer up to 2,147,483,647, got 10000" in err


def test_dims_multiplied_by_the_batch_are_bounded_too(tmp_path):
    wl = {"workload": {"name": "g", "batch": 2**20, "layers": [
        {"name": "g", "type": "gemm", "M": 2**12, "N": 2, "K": 2, "batch_dim": "M"}]}}
    path = write(tmp_path / "wl.yaml", wl)
    code, err = _run("check", str(path))
    assert code == 2 and f"{path}: workload.layers[0]: expected dim sizes of at most 2,147,483,647, got " \
                         f"M = {2**32:,}" in err


def test_huge_energy_is_refused(tmp_path):
    """1e308 pJ per write is finite, but scaled into the solver's integers it became
    infinity (an internal error in the solve); energies are bounded by MAX_ENERGY_PJ."""
    arch = yaml.safe_load(yaml.safe_dump(TINY_ARCH))
    arch["architecture"]["levels"][0]["write_energy_pj"] = 1e308
    path = write(tmp_path / "arch.yaml", arch)
    code, err = _run("check", str(path))
    assert code == 2 and f"{path}: architecture.levels[0].write_energy_pj: expected an energy in pJ from 0 " \
                         "to 1e+09, got 1e+308" in err


@pytest.mark.parametrize("text, where, what", [
    ("a: !!set fc\n", "line 1, column 4", "expected a mapping for tag tag:yaml.org,2002:set, got a scalar"),
    ("a:\n  - !!float abc\n", "line 2, column 5", "could not convert string to float: 'abc'"),
    ("a: !!bool maybe\n", "line 1, column 4", "cannot read a value tagged tag:yaml.org,2002:bool: 'maybe'"),
    ("a: !!timestamp 2020-99-99\n", "line 1, column 4", "month must be in 1..12"),
    ("a: !!timestamp soon\n", "line 1, column 4", "tag:yaml.org,2002:timestamp: expected a date like 2001-12-14"),
])
def test_explicit_tags_the_constructor_cannot_build(tmp_path, text, where, what):
    """'type: !!set fc' ended in a ValueError inside the strict loader's duplicate-key check."""
    path = tmp_path / "tagged.yaml"
    path.write_text(text)
    code, err = _run("check", str(path))
    assert code == 2 and err.startswith(f"cpmap: error: {path}: invalid YAML at {where}: ") and what in err


def _timeloop_dir(tmp_path, edit) -> str:
    """The exported Timeloop files of the bundled example, one of them edited."""
    from fuzzing import TIMELOOP

    d = tmp_path / "tl"
    d.mkdir(parents=True)
    for name, text in TIMELOOP.items():
        obj = yaml.safe_load(text)
        edit(name, obj)
        write(d / name, obj)
    return str(d)


def _set_attr(key, value):
    def edit(name, obj):
        if name == "arch.yaml":
            obj["architecture"]["subtree"][0]["local"][1]["attributes"][key] = value
    return edit


@pytest.mark.parametrize("key, value, expected", [
    ("depth", float("nan"), "attributes.depth: expected a whole number >= 0, got nan"),
    ("word-bits", float("inf"), "attributes.word-bits: expected a whole number >= 0, got inf"),
    ("block-size", 0, "attributes: expected the attributes of a valid level (level "),
])
def test_timeloop_import_names_the_field(tmp_path, key, value, expected):
    """NaN/inf sizes were an OverflowError traceback or a 'malformed Timeloop input
    (ValueError: ...)' without a field; a zero capacity a ValueError from the core."""
    d = _timeloop_dir(tmp_path, _set_attr(key, value))
    code, err = _run("import", "timeloop", d, "-o", str(tmp_path / "out"))
    assert code == 2 and err.startswith(f"cpmap: error: {d}/arch.yaml: ") and expected in err, err


def test_timeloop_coefficient_named_by_a_mapping(tmp_path):
    def edit(name, obj):
        if name == "problem.yaml":
            obj["problem"]["shape"].setdefault("coefficients", []).append({"name": {"a": 1}, "default": 1})
    d = _timeloop_dir(tmp_path, edit)
    code, err = _run("import", "timeloop", d, "-o", str(tmp_path / "out"))
    assert code in (0, 1) and "unhashable" not in err and "malformed Timeloop input" not in err, err


def test_blank_key_is_quoted(tmp_path):
    path = write(tmp_path / "m.yaml", {"": 1, "mapping": MAPPING["mapping"]})
    code, err = _run("check", str(path))
    assert code == 2 and f"{path}: '': unknown key; expected one of: layer, mapping" in err


def _mesh_arch() -> dict:
    return yaml.safe_load((ROOT / "specs/nnd-4x4.yaml").read_text())


def test_sweep_points_keep_the_static_energy(tmp_path):
    """Every design point was rebuilt without the base's static_energy_pj_per_cycle (so a
    sweep solved, and wrote archs/<point>.yaml for, a chip without its static energy)."""
    from cpmap.spec.sweep import load_sweep_spec

    arch = yaml.safe_load(yaml.safe_dump(TINY_ARCH))
    arch["architecture"]["static_energy_pj_per_cycle"] = 5.0
    write(tmp_path / "a.yaml", arch)
    write(tmp_path / "w.yaml", TINY_WORKLOAD)
    spec = write(tmp_path / "s.yaml", {"sweep": {"arch": "a.yaml", "workloads": [{"workload": "w.yaml"}],
                                                 "energy_table": "none", "vary": {"capacity": {"RF": [12, 24]}}}})
    points = load_sweep_spec(str(spec)).points
    assert [p.arch.levels[0].capacity for p in points] == [12, 24]
    assert [p.arch.static_pj_per_cycle for p in points] == [5.0, 5.0]


def test_pipeline_without_a_buffer_names_the_spec_field(tmp_path):
    """Temporal pipelining on an architecture with no level that may keep I and O with no
    fanout or one mesh above it ended in 'pipeline: architecture nnd-4x4-3d has no ...',
    naming no file (fuzz seed 2, case 1741).  The mesh itself is accepted now (per-node
    shares, docs/pipeline.md); nnd-4x4 with a flat node fanout has no coordinates to price
    moves between the nodes' buffers, so it is still refused."""
    arch = _mesh_arch()
    noc = arch["architecture"]["levels"][2]["fanout"]
    for key in ("topology", "hop_energy_pj"):
        noc.pop(key)
    arch["architecture"]["levels"][2].pop("memory")
    write(tmp_path / "a.yaml", arch)
    write(tmp_path / "w.yaml", TINY_WORKLOAD)
    spec = write(tmp_path / "s.yaml", {"solve": {"arch": "a.yaml", "workload": "w.yaml", "time_limit": 1,
                                                 "pipeline": {"mode": "temporal"}}})
    code, err = _run("solve", str(spec), "--out", str(tmp_path / "out"), "-q")
    assert code == 2 and err.count("\n") == 1, err
    assert err.startswith(f"cpmap: error: {spec}: solve.pipeline.mode: expected mode none on architecture nnd-4x4: "
                          "it has no on-chip level that may keep I and O with no fanout or one mesh above it")


def test_pipeline_with_top_k_is_refused(tmp_path):
    """solve.top_k: 3 with a pipeline was ignored silently (only --top was refused)."""
    write(tmp_path / "a.yaml", TINY_ARCH)
    write(tmp_path / "w.yaml", TINY_WORKLOAD)
    spec = write(tmp_path / "s.yaml", {"solve": {"arch": "a.yaml", "workload": "w.yaml", "time_limit": 1, "top_k": 3,
                                                 "pipeline": {"mode": "temporal"}}})
    code, err = _run("check", str(spec))
    assert (code, err) == (2, (f"cpmap: error: {spec}: solve.top_k: expected 1 with a pipeline (one mapping per "
                               "layer problem), got 3\n"))
    code, err = _run("solve", str(spec), "--top", "2", "--out", str(tmp_path / "out"), "-q")
    assert code == 2 and err.startswith("cpmap: error: --top does not apply with a pipeline")


@pytest.mark.parametrize("dim", ["G", "K", "Wstride"])
def test_timeloop_zero_dim_names_the_dim(tmp_path, dim):
    """A zero group count (or dim, or stride) in problem.yaml was 'problem.instance: groups
    must be >= 1, got 0' (the core's ValueError, no field; fuzz seed 2, case 2002)."""
    def edit(name, obj):
        if name == "problem.yaml":
            obj["problem"]["instance"][dim] = 0
    d = _timeloop_dir(tmp_path, edit)
    code, err = _run("import", "timeloop", d, "-o", str(tmp_path / "out"))
    assert (code, err) == (2, (f"cpmap: error: {d}/problem.yaml: problem.instance.{dim}: expected a whole number "
                               ">= 1, got 0\n"))


@pytest.mark.parametrize("edit, field, expected", [
    (lambda b: b.update(area={"mm2_per_kib": {"RF": 1e308, "GB": 0.01}}), "sweep.area.mm2_per_kib.RF",
     "expected an area in mm2 from 0 to 1e+06, got 1e+308"),
    (lambda b: b.update(area={"mm2_per_kib": {"RF": 0.02, "GB": 0.01}, "mm2_per_pe": float("inf")}),
     "sweep.area.mm2_per_pe", "expected an area in mm2 from 0 to 1e+06, got inf"),
    (lambda b: b.update(energy_table={"word_bits": 16, "rows": [["16 B", 1e308], ["64 B", 2e308]]}),
     "sweep.energy_table.rows[0][1]", "expected an energy in pJ from 0 to 1e+09, got 1e+308"),
    (lambda b: b.update(energy_table={"word_bits": 16, "rows": [["16 B", 0], ["64 B", 1]]}),
     "sweep.energy_table.rows[0][1]", "expected an energy in pJ > 0 and at most 1e+09, got 0"),
])
def test_sweep_area_and_table_are_bounded(tmp_path, edit, field, expected):
    """mm2 per KiB of 1e308 made a point's area_mm2 Infinity in sweep.json (not JSON); a
    table energy of 1e308 pJ (unbounded, unlike every other energy) left the layer UNKNOWN
    'no mapping found within the time limit' instead of naming the field."""
    write(tmp_path / "a.yaml", TINY_ARCH)
    write(tmp_path / "w.yaml", TINY_WORKLOAD)
    body = {"arch": "a.yaml", "workloads": [{"workload": "w.yaml"}], "energy_table": "none",
            "vary": {"capacity": {"RF": ["24 B"]}}}
    edit(body)
    spec = write(tmp_path / "s.yaml", {"sweep": body})
    code, err = _run("check", str(spec))
    assert (code, err) == (2, f"cpmap: error: {spec}: {field}: {expected}\n")


def test_timeloop_ert_null_table(tmp_path):
    """A null entry in ERT.tables was an AttributeError reported as 'malformed Timeloop
    input' (no file, no field; fuzz seed 5, case 584): it is an entry without energies, so
    an extra one is harmless and one in place of a level's table names what is missing."""
    def edit(last):
        def f(name, obj):
            if name == "ERT.yaml":
                tables = obj["ERT"]["tables"]
                tables[-1:] = [None] if last else [tables[-1], None]
        return f
    d = _timeloop_dir(tmp_path / "extra", edit(False))
    assert _run("import", "timeloop", d, "-o", str(tmp_path / "out1"))[0] == 0
    d = _timeloop_dir(tmp_path / "replaced", edit(True))
    code, err = _run("import", "timeloop", d, "-o", str(tmp_path / "out2"))
    assert code == 2 and err.startswith(f"cpmap: error: {d}/ERT.yaml: ") and "expected an ERT entry for" in err, err

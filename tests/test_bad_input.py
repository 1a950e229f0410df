"""Malformed specs: every error names the file, the field path and what was expected,
and the CLI reports it on one line with the right exit code (never a traceback)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml
from solvekit import run_cli

from cpmap.cli import main
from cpmap.core.errors import MappingError, SpecError
from cpmap.spec import load_any, load_arch, load_mapping, load_workload
from cpmap.spec.solve import load_solve_spec

ROOT = Path(__file__).resolve().parent.parent
EYERISS = ROOT / "specs/eyeriss.yaml"
SMALL = ROOT / "specs/examples/conv-small.yaml"
SMALL_MAPPING = ROOT / "specs/examples/conv-small-mapping-eyeriss.yaml"
ALEXNET = ROOT / "models/alexnet.yaml"

ARCH = yaml.safe_load(EYERISS.read_text())
WORKLOAD = yaml.safe_load(SMALL.read_text())
MAPPING = yaml.safe_load(SMALL_MAPPING.read_text())


def _write(tmp_path: Path, obj_or_text, name: str = "spec.yaml") -> Path:
    path = tmp_path / name
    text = obj_or_text if isinstance(obj_or_text, str) else yaml.safe_dump(obj_or_text, sort_keys=False)
    path.write_text(text)
    return path


def _edit(base: dict, fn) -> dict:
    obj = copy.deepcopy(base)
    fn(obj)
    return obj


def _arch_level(i):
    return lambda o: o["architecture"]["levels"][i]


def _set(getter, key, value):
    return lambda o: getter(o).__setitem__(key, value)


def _del(getter, key):
    return lambda o: getter(o).__delitem__(key)


_a = lambda o: o["architecture"]
_rf, _gbuf, _dram = _arch_level(0), _arch_level(1), _arch_level(2)
_fan = lambda o: o["architecture"]["levels"][1]["fanout"]
_l0 = lambda o: o["workload"]["layers"][0]
_m = lambda i: (lambda o: o["mapping"][i])


def _two_layers(o):
    o["workload"]["layers"].append({"name": "conv2", "type": "conv", "K": 8, "C": 16, "P": 12, "Q": 12,
                                    "R": 3, "S": 3})


# (id, edit of the eyeriss spec, field path, expected text)
ARCH_CASES = [
    ("missing-field", _del(_a, "mac_energy_pj"), "architecture.mac_energy_pj",
     "missing required field (expected an energy in pJ from 0 to 1e+09)"),
    ("bool-for-int", _set(_a, "word_bits", True), "architecture.word_bits",
     "expected a positive integer, got true (a boolean)"),
    ("negative-size", _set(_rf, "capacity", -5), "architecture.levels[0].capacity", "must be >= 1"),
    ("zero-size", _set(_gbuf, "capacity", 0), "architecture.levels[1].capacity", "must be >= 1"),
    ("bad-size-text", _set(_gbuf, "capacity", "lots"), "architecture.levels[1].capacity",
     "expected a size like '108 KiB', '512 B' or '256 words', got 'lots'"),
    ("bad-unit", _set(_gbuf, "capacity", "108 KB"), "architecture.levels[1].capacity",
     "expected a size like '108 KiB'"),
    ("bytes-not-whole-words", _set(_rf, "capacity", "511 B"), "architecture.levels[0].capacity",
     "expected a whole, positive number of 16-bit words, got '511 B' = 255.5 words"),
    ("word-bits-not-bytes", _set(_a, "word_bits", 12), "architecture.levels[0].capacity",
     "sizes in bytes need word_bits to be a multiple of 8"),
    ("unknown-tensor", _set(_rf, "keeps", ["W", "X"]), "architecture.levels[0].keeps[1]",
     "expected one of W, I, O, got 'X'"),
    ("unknown-key", lambda o: _rf(o).__setitem__("capacty", 3), "architecture.levels[0].capacty",
     "unknown key (did you mean 'capacity'?); expected one of: name, capacity, partitions"),
    ("partitions-vs-keeps", lambda o: (_rf(o).pop("capacity"), _rf(o).__setitem__("partitions", {"W": 10, "I": 10})),
     "architecture.levels[0].partitions", "expected one partition per kept tensor (W, I, O), got W, I"),
    ("capacity-and-partitions", _set(_rf, "partitions", {"W": 10, "I": 10, "O": 10}),
     "architecture.levels[0].partitions", "expected capacity or partitions, not both"),
    ("outermost-keeps-not-all", _set(_dram, "keeps", ["W", "I"]), "architecture.levels",
     "outermost level DRAM must keep W, I and O"),
    ("outermost-keeps-missing", _del(_dram, "keeps"), "architecture.levels[2].keeps",
     "missing required field (expected a list of tensor names like [W, I, O])"),
    ("outermost-capacity", _set(_dram, "capacity", "1 MiB"), "architecture.levels[2].capacity",
     "expected no capacity: the outermost level is unbounded"),
    ("inner-unbounded", _del(_gbuf, "capacity"), "architecture.levels[1].capacity",
     "missing required field"),
    ("fanout-no-axes", _set(_fan, "axes", {}), "architecture.levels[1].fanout.axes",
     "expected at least one axis"),
    ("fanout-axis-zero", _set(_fan, "axes", {"Y": 0, "X": 14}), "architecture.levels[1].fanout.axes.Y",
     "expected a positive integer, got 0"),
    ("fanout-on-innermost", lambda o: _rf(o).__setitem__("fanout", _fan(o)), "architecture.levels",
     "innermost level cannot have a fanout"),
    ("negative-energy", _set(_gbuf, "read_energy_pj", -1), "architecture.levels[1].read_energy_pj",
     "expected an energy in pJ from 0 to 1e+09, got -1"),
    ("string-bool", _set(_fan, "multicast", "maybe"), "architecture.levels[1].fanout.multicast",
     "expected true or false, got 'maybe'"),
    ("zero-bandwidth", _set(_rf, "read_bandwidth", 0), "architecture.levels[0].read_bandwidth",
     "expected a bandwidth >= 1e-06 words per cycle, got 0"),
    # 1e-10 words per cycle would make a layer's cycles pass int64
    ("tiny-bandwidth", _set(_rf, "write_bandwidth", 1e-10), "architecture.levels[0].write_bandwidth",
     "expected a bandwidth >= 1e-06 words per cycle, got 1e-10"),
    ("one-level", lambda o: _a(o).__setitem__("levels", _a(o)["levels"][2:]), "architecture.levels",
     "expected a list of at least two levels"),
    ("duplicate-level-names", _set(_gbuf, "name", "RF"), "architecture.levels", "duplicate level names"),
    ("levels-out-of-order", lambda o: _a(o)["levels"].reverse(), "architecture.levels",
     "expected levels innermost first, the unbounded outermost level (e.g. DRAM) last"),
]


@pytest.mark.parametrize("edit, field, expected", [c[1:] for c in ARCH_CASES], ids=[c[0] for c in ARCH_CASES])
def test_bad_arch(tmp_path, edit, field, expected):
    path = _write(tmp_path, _edit(ARCH, edit))
    _assert_spec_error(lambda: load_arch(str(path)), path, field, expected)


WORKLOAD_CASES = [
    ("unknown-type", _set(_l0, "type", "deconv"), "workload.layers[0].type",
     "expected one of conv | fc | gemm | pool | eltwise, got 'deconv'"),
    ("missing-dim", _del(_l0, "K"), "workload.layers[0].K", "missing required field (expected a positive integer up to 2,147,483,647)"),
    ("unknown-dim-key", _set(_l0, "M", 3), "workload.layers[0].M",
     "unknown key; expected one of: name, type, inputs, K, C, P, Q, N, R, S, stride, dilation, groups"),
    ("float-dim", _set(_l0, "P", 2.5), "workload.layers[0].P", "expected a positive integer up to 2,147,483,647, got 2.5"),
    ("bool-dim", _set(_l0, "Q", True), "workload.layers[0].Q", "expected a positive integer up to 2,147,483,647, got true"),
    ("bad-stride", _set(_l0, "stride", [1, 2, 3]), "workload.layers[0].stride",
     "expected an integer or a pair [y, x]"),
    ("zero-stride-y", _set(_l0, "stride", [0, 2]), "workload.layers[0].stride[0]",
     "expected a positive integer, got 0"),
    ("groups-not-dividing", _set(_l0, "groups", 3), "workload.layers[0]", "must be divisible by groups=3"),
    ("unknown-input", _set(_l0, "inputs", ["image"]), "workload.layers[0].inputs[0]",
     "expected an earlier layer or an external input"),
    ("input-not-earlier", lambda o: (_two_layers(o), _l0(o).__setitem__("inputs", ["conv2"])),
     "workload.layers[0].inputs[0]", "inputs must come before their consumers; got 'conv2', which is defined later"),
    ("duplicate-layer", lambda o: (_two_layers(o), o["workload"]["layers"][1].__setitem__("name", "conv")),
     "workload.layers[1].name", "expected a unique layer name, got 'conv' again"),
    ("zero-batch", _set(lambda o: o["workload"], "batch", 0), "workload.batch", "expected a positive integer"),
    ("no-layers", _set(lambda o: o["workload"], "layers", []), "workload.layers", "expected a non-empty list"),
    ("layer-not-mapping", _set(lambda o: o["workload"], "layers", ["conv"]), "workload.layers[0]",
     "expected a layer mapping"),
]


@pytest.mark.parametrize("edit, field, expected", [c[1:] for c in WORKLOAD_CASES],
                         ids=[c[0] for c in WORKLOAD_CASES])
def test_bad_workload(tmp_path, edit, field, expected):
    path = _write(tmp_path, _edit(WORKLOAD, edit))
    _assert_spec_error(lambda: load_workload(str(path)), path, field, expected)


def _swap_levels(o):
    o["mapping"][0], o["mapping"][1] = o["mapping"][1], o["mapping"][0]


MAPPING_CASES = [
    ("unknown-level", _set(_m(1), "level", "GLB"), "mapping[1].level",
     "expected a level of eyeriss (DRAM, GBUF, RF), got 'GLB'"),
    ("levels-out-of-order", _swap_levels, "mapping",
     "expected every level of eyeriss exactly once, outer to inner: DRAM, GBUF, RF; got GBUF, DRAM, RF"),
    ("level-missing", lambda o: o["mapping"].pop(1), "mapping", "exactly once, outer to inner"),
    ("zero-factor", _set(_m(0), "temporal", {"K": 0}), "mapping[0].temporal.K", "expected a positive integer, got 0"),
    ("missing-keeps", _del(_m(2), "keeps"), "mapping[2].keeps", "missing required field"),
    ("unknown-key", _set(_m(2), "temporl", {}), "mapping[2].temporl",
     "unknown key (did you mean 'temporal'?); expected one of: level, keeps, temporal, spatial"),
    ("unknown-tensor", _set(_m(2), "keeps", ["W", "A"]), "mapping[2].keeps[1]", "expected one of W, I, O, got 'A'"),
    ("spatial-not-nested", _set(_m(1), "spatial", {"Y": 3}), "mapping[1].spatial.Y",
     "expected a mapping dim -> factor like {K: 2, C: 3}, got 3"),
    ("top-level-scalar", lambda o: o.__setitem__("mapping", "DRAM"), "mapping", "expected a non-empty list"),
]


@pytest.mark.parametrize("edit, field, expected", [c[1:] for c in MAPPING_CASES],
                         ids=[c[0] for c in MAPPING_CASES])
def test_bad_mapping_spec(tmp_path, edit, field, expected):
    path = _write(tmp_path, _edit(MAPPING, edit))
    problem = load_workload(str(SMALL)).layers[0].problem
    arch = load_arch(str(EYERISS))
    _assert_spec_error(lambda: load_mapping(str(path), problem, arch), path, field, expected)


# Structural errors come from Mapping.structural_errors: "<level>.<field>: <what>".
STRUCTURAL_CASES = [
    ("unknown-dim", _set(_m(2), "temporal", {"K": 4, "Q": 14, "S": 3, "Z": 1}), "RF.temporal",
     "unknown dim 'Z' (dims are ['N', 'G', 'K', 'C', 'P', 'Q', 'R', 'S'])"),
    ("factors-do-not-multiply", _set(_m(0), "temporal", {"K": 4}), "factors of K", "multiply to 32, expected 16"),
    ("unknown-axis", _set(_m(1), "spatial", {"Y": {"R": 3, "C": 4}, "Z": {"P": 14}}), "GBUF.spatial",
     "unknown axis 'Z' of fanout PE (axes are ['Y', 'X'])"),
    ("spatial-without-fanout", _set(_m(2), "spatial", {"Y": {"K": 1}}), "RF.spatial",
     "level RF has no fanout below it"),
]


@pytest.mark.parametrize("edit, field, expected", [c[1:] for c in STRUCTURAL_CASES],
                         ids=[c[0] for c in STRUCTURAL_CASES])
def test_structurally_wrong_mapping(tmp_path, edit, field, expected):
    path = _write(tmp_path, _edit(MAPPING, edit))
    problem = load_workload(str(SMALL)).layers[0].problem
    with pytest.raises(MappingError) as info:
        load_mapping(str(path), problem, load_arch(str(EYERISS)))
    message = str(info.value)
    assert message.startswith(f"{path}: "), message
    assert field in message and expected in message, message


def test_mapping_of_pool_cannot_keep_weights(tmp_path):
    wl = {"workload": {"name": "p", "layers": [
        {"name": "pool", "type": "pool", "C": 4, "P": 2, "Q": 2, "R": 2, "S": 2}]}}
    problem = load_workload(str(_write(tmp_path, wl, "w.yaml"))).layers[0].problem
    mapping = [{"level": "DRAM", "keeps": ["I", "O"], "temporal": {"C": 4, "P": 2, "Q": 2, "R": 2, "S": 2}},
               {"level": "GBUF", "keeps": ["W", "I"]}, {"level": "RF", "keeps": []}]
    path = _write(tmp_path, mapping, "m.yaml")
    with pytest.raises(MappingError, match=r"GBUF.keeps: unknown tensors \['W'\] for a pool layer"):
        load_mapping(str(path), problem, load_arch(str(EYERISS)))


RAW_CASES = [
    ("duplicate-key", "architecture:\n  name: a\n  word_bits: 16\n  name: b\n", "architecture.name",
     "duplicate key (lines 2 and 4); expected each key once"),
    ("nested-duplicate-key", "workload:\n  name: w\n  layers:\n    - {name: a, type: fc, K: 1, K: 2, C: 1}\n",
     "workload.layers[0].K", "duplicate key (lines 4 and 4)"),
    ("yaml-syntax", "architecture:\n  name: [a\n  word_bits: 16\n", "", "invalid YAML at line 3"),
    ("yaml-tab", "architecture:\n\tname: a\n", "", "invalid YAML at line 2"),
    ("empty-file", "", "", "expected exactly one top-level key of architecture, workload, mapping"),
    ("two-kinds", "architecture: {}\nworkload: {}\n", "", "got keys architecture, workload"),
    ("scalar-file", "42\n", "", "got 42"),
]


@pytest.mark.parametrize("text, field, expected", [c[1:] for c in RAW_CASES], ids=[c[0] for c in RAW_CASES])
def test_bad_yaml(tmp_path, text, field, expected):
    path = _write(tmp_path, text)
    _assert_spec_error(lambda: load_any(str(path)), path, field, expected)


def test_unknown_top_level_key(tmp_path):
    obj = dict(ARCH, extras={"x": 1})
    path = _write(tmp_path, obj)
    _assert_spec_error(lambda: load_arch(str(path)), path, "extras", "unknown key; expected one of: architecture")


def test_missing_file(tmp_path):
    path = tmp_path / "nope.yaml"
    _assert_spec_error(lambda: load_arch(str(path)), path, "", "cannot read file: No such file or directory")


def _assert_spec_error(fn, path, field, expected):
    with pytest.raises(SpecError) as info:
        fn()
    err = info.value
    assert err.file == str(path)
    assert err.field == field, str(err)
    assert expected in err.message, str(err)
    assert str(err).startswith(f"{path}: {field + ': ' if field else ''}")
    assert "\n" not in str(err)


# --------------------------------------------------------------------------- CLI


_cpmap = run_cli  # in-process unless process=True (tests/solvekit.py)


def _evaluate_args(mapping=SMALL_MAPPING, workload=SMALL, arch=EYERISS) -> list[str]:
    return ["evaluate", "--arch", str(arch), "--workload", str(workload), "--mapping", str(mapping)]


def test_cli_evaluate_table():
    proc = _cpmap(*_evaluate_args())
    assert proc.returncode == 0, proc.stderr
    for text in ("layer conv (conv) on eyeriss: valid", "Energy (pJ)", "DRAM", "network PE", "MAC",
                 "Accesses", "utilization  100.0% of 168 PEs"):
        assert text in proc.stdout


def test_cli_evaluate_json():
    proc = _cpmap(*_evaluate_args(), "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["valid"] is True and out["errors"] == [] and out["macs"] == 225_792
    assert {"energy_pj", "energy_breakdown", "accesses", "cycles", "utilization"} <= set(out)


def test_cli_invalid_mapping_exits_1(tmp_path):
    big_rf = _edit(MAPPING, lambda o: (o["mapping"][0].__setitem__("temporal", {}),
                                       o["mapping"][1].__setitem__("temporal", {"C": 2}),
                                       o["mapping"][2].__setitem__("temporal", {"K": 16, "Q": 14, "S": 3})))
    path = _write(tmp_path, big_rf)
    proc = _cpmap(*_evaluate_args(path))
    assert proc.returncode == 1, proc.stderr
    assert "INVALID" in proc.stdout and "RF: tiles need 288 words > capacity 256" in proc.stdout
    proc = _cpmap(*_evaluate_args(path), "--json")
    assert proc.returncode == 1 and json.loads(proc.stdout)["valid"] is False


def test_cli_bad_spec_exits_2(tmp_path):
    path = _write(tmp_path, _edit(ARCH, _set(_rf, "capacity", "lots")))
    proc = _cpmap(*_evaluate_args(arch=path), process=True)
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"cpmap: error: {path}: architecture.levels[0].capacity: expected a size")
    assert proc.stderr.count("\n") == 1 and proc.stdout == ""


def test_cli_structural_error_exits_2(tmp_path):
    path = _write(tmp_path, _edit(MAPPING, _set(_m(0), "temporal", {"K": 4})))
    proc = _cpmap(*_evaluate_args(path))
    assert proc.returncode == 2 and "factors of K multiply to 32, expected 16" in proc.stderr


def test_cli_missing_file_exits_2(tmp_path):
    proc = _cpmap(*_evaluate_args(tmp_path / "missing.yaml"))
    assert proc.returncode == 2 and "cannot read file" in proc.stderr


def test_cli_layer_choice(tmp_path):
    no_layer = _write(tmp_path, MAPPING["mapping"], "bare.yaml")  # a bare list: no 'layer:'
    proc = _cpmap(*_evaluate_args(no_layer))  # single-layer workload: its only layer
    assert proc.returncode == 0, proc.stderr
    proc = _cpmap(*_evaluate_args(no_layer, workload=ALEXNET))
    assert proc.returncode == 2
    assert f"{no_layer}: layer: missing" in proc.stderr and "or --layer NAME" in proc.stderr
    assert "conv1, pool1, conv2" in proc.stderr
    proc = _cpmap(*_evaluate_args(no_layer, workload=ALEXNET), "--layer", "conv9")
    assert proc.returncode == 2 and "--layer: expected a layer of workload alexnet" in proc.stderr
    assert "got 'conv9'" in proc.stderr
    named = _write(tmp_path, {"layer": "conv9", "mapping": MAPPING["mapping"]}, "named.yaml")
    proc = _cpmap(*_evaluate_args(named, workload=ALEXNET))
    assert proc.returncode == 2 and f"{named}: layer: expected a layer of workload alexnet" in proc.stderr
    proc = _cpmap(*_evaluate_args(no_layer, workload=ALEXNET), "--layer", "conv3")
    assert proc.returncode == 2 and "factors of" in proc.stderr  # the conv-small mapping does not fit conv3


def test_cli_usage_errors_exit_2():
    assert _cpmap("evaluate", "--arch", str(EYERISS), process=True).returncode == 2
    assert _cpmap(process=True).returncode == 2
    assert _cpmap("frobnicate", process=True).returncode == 2
    assert _cpmap("--help", process=True).returncode == 0


def test_cli_check_reports_every_file(tmp_path):
    bad = _write(tmp_path, "architecture:\n  name: a\n  name: b\n", "bad.yaml")
    proc = _cpmap("check", str(EYERISS), str(bad), str(SMALL), str(SMALL_MAPPING))
    assert proc.returncode == 2
    assert f"ok {EYERISS} (architecture)" in proc.stdout
    assert f"ok {SMALL} (workload)" in proc.stdout
    assert f"ok {SMALL_MAPPING} (mapping)" in proc.stdout
    assert f"cpmap: error: {bad}: architecture.name: duplicate key" in proc.stderr


def test_cli_check_mapping_against_layer(tmp_path):
    proc = _cpmap("check", str(SMALL_MAPPING), "--arch", str(EYERISS), "--workload", str(SMALL))
    assert proc.returncode == 0 and "ok" in proc.stdout and "syntax only" not in proc.stderr
    wrong = _write(tmp_path, _edit(MAPPING, _set(_m(2), "temporal", {"K": 4})), "wrong.yaml")
    proc = _cpmap("check", str(wrong), "--arch", str(EYERISS), "--workload", str(SMALL))
    assert proc.returncode == 2 and "factors of Q multiply to 1, expected 14" in proc.stderr
    proc = _cpmap("check", str(wrong))  # syntax only: fine
    assert proc.returncode == 0 and "syntax only" in proc.stderr


def test_main_in_process_returns_codes(capsys):
    assert main(_evaluate_args()) == 0
    assert main(["check", "does-not-exist.yaml"]) == 2
    assert "cpmap: error: does-not-exist.yaml: cannot read file" in capsys.readouterr().err


# --------------------------------------------------------------------------- solve specs

SOLVE = {"solve": {"arch": str(EYERISS), "workload": str(SMALL), "time_limit": 5,
                   "constraints": {"spatial": {"GBUF": {"Y": ["R", "C"], "X": ["P"]}}, "keeps": {"RF": ["W", "I", "O"]},
                                   "max_factor": {"RF": {"C": 4}}, "min_utilization": 0.25}}}
_s = lambda o: o["solve"]
_c = lambda o: o["solve"]["constraints"]

# (id, edit of SOLVE, field path, expected text)
SOLVE_CASES = [
    ("missing-arch", _del(_s, "arch"), "solve.arch", "missing required field (expected a file path"),
    ("missing-arch-file", _set(_s, "arch", "nope.yaml"), "solve.arch",
     "expected an existing architecture file, got nope.yaml (resolved to "),
    ("missing-workload-file", _set(_s, "workload", "../w.yaml"), "solve.workload",
     "expected an existing workload file, got ../w.yaml"),
    ("unknown-key", _set(_s, "timelimit", 3), "solve.timelimit",
     "unknown key (did you mean 'time_limit'?); expected one of: arch, workload, layers"),
    ("bad-objective", _set(_s, "objective", "speed"), "solve.objective",
     "expected one of energy | delay | edp | pareto, got 'speed'"),
    ("bad-encoding", _set(_s, "encoding", "fast"), "solve.encoding", "expected one of exact | pwl, got 'fast'"),
    ("zero-time-limit", _set(_s, "time_limit", 0), "solve.time_limit", "expected a number of seconds > 0, got 0"),
    ("text-time-limit", _set(_s, "time_limit", "10s"), "solve.time_limit", "expected a number of seconds > 0"),
    ("zero-work-limit", _set(_s, "work_limit", 0), "solve.work_limit", "expected a number of seconds > 0, got 0"),
    ("inf-work-limit", _set(_s, "work_limit", float("inf")), "solve.work_limit", "expected a number of seconds > 0"),
    ("zero-workers", _set(_s, "workers", 0), "solve.workers", "expected a positive integer, got 0"),
    ("negative-seed", _set(_s, "seed", -1), "solve.seed", "expected an integer from 0 to 2147483647, got -1"),
    ("bool-top-k", _set(_s, "top_k", True), "solve.top_k", "expected a positive integer, got true"),
    ("zero-batch", _set(_s, "batch", 0), "solve.batch", "expected a positive integer, got 0"),
    ("unknown-layer", _set(_s, "layers", ["conv9"]), "solve.layers[0]",
     "expected a layer of workload conv-small (conv), got 'conv9' (did you mean 'conv'?)"),
    ("no-layers", _set(_s, "layers", []), "solve.layers", "expected at least one layer name"),
    ("unknown-constraint", _set(_c, "bypass", {}), "solve.constraints.bypass",
     "unknown key; expected one of: spatial, keeps, min_utilization, max_factor, dataflow"),
    ("unknown-level-keeps", _set(_c, "keeps", {"GLB": ["W"]}), "solve.constraints.keeps.GLB",
     "expected a level of eyeriss (RF, GBUF, DRAM), got 'GLB'"),
    ("unknown-level-spatial", _set(_c, "spatial", {"RF": {"Y": ["C"]}}), "solve.constraints.spatial.RF",
     "expected a level with a fanout of eyeriss (GBUF), got 'RF'"),
    ("fanout-name-as-level", _set(_c, "spatial", {"PE": {"Y": ["C"]}}), "solve.constraints.spatial.PE",
     "got 'PE' (PE is the fanout below GBUF: name the level above the array)"),
    ("unknown-axis", _set(_c, "spatial", {"GBUF": {"Z": ["C"]}}), "solve.constraints.spatial.GBUF.Z",
     "expected an axis of fanout PE (Y, X), got 'Z'"),
    ("unknown-dim", _set(_c, "spatial", {"GBUF": {"Y": ["C", "M"]}}), "solve.constraints.spatial.GBUF.Y[1]",
     "expected a dim of workload conv-small's layers (N, G, K, C, P, Q, R, S), got 'M'"),
    ("dims-not-a-list", _set(_c, "spatial", {"GBUF": {"Y": "C"}}), "solve.constraints.spatial.GBUF.Y",
     "expected a list of dims like [C, K]"),
    ("unknown-tensor", _set(_c, "keeps", {"RF": ["W", "A"]}), "solve.constraints.keeps.RF[1]",
     "expected one of W, I, O, got 'A'"),
    ("outermost-keeps", _set(_c, "keeps", {"DRAM": ["W"]}), "solve.constraints.keeps.DRAM",
     "expected [W, I, O]: the outermost level DRAM keeps every tensor"),
    ("utilization-above-1", _set(_c, "min_utilization", 1.5), "solve.constraints.min_utilization",
     "expected a fraction from 0 to 1 (used PEs / PEs), got 1.5"),
    ("max-factor-unknown-dim", _set(_c, "max_factor", {"RF": {"B": 2}}), "solve.constraints.max_factor.RF.B",
     "expected a dim of workload conv-small's layers"),
    ("max-factor-zero", _set(_c, "max_factor", {"RF": {"C": 0}}), "solve.constraints.max_factor.RF.C",
     "expected a positive integer, got 0"),
    ("max-factor-unknown-level", _set(_c, "max_factor", {"L3": {"C": 2}}), "solve.constraints.max_factor.L3",
     "expected a level of eyeriss"),
    ("dataflow-not-a-mapping", _set(_c, "dataflow", ["R", "P"]), "solve.constraints.dataflow",
     "expected a mapping level -> {axis: [dims]} or 'dims|dims'"),
    ("dataflow-unknown-level", _set(_c, "dataflow", {"GLB": {"Y": ["R"]}}), "solve.constraints.dataflow.GLB",
     "expected a level with a fanout of eyeriss (GBUF), got 'GLB'"),
    ("dataflow-level-without-fanout", _set(_c, "dataflow", {"RF": "R|P"}), "solve.constraints.dataflow.RF",
     "expected a level with a fanout of eyeriss (GBUF), got 'RF'"),
    ("dataflow-unknown-axis", _set(_c, "dataflow", {"GBUF": {"Z": ["R"]}}), "solve.constraints.dataflow.GBUF.Z",
     "expected an axis of fanout PE (Y, X), got 'Z'"),
    ("dataflow-unknown-dim", _set(_c, "dataflow", {"GBUF": {"Y": ["R", "M"]}}),
     "solve.constraints.dataflow.GBUF.Y[1]", "expected a dim of workload conv-small's layers (N, G, K, C, P, Q, R, "
     "S), got 'M'"),
    ("dataflow-shorthand-unknown-dim", _set(_c, "dataflow", {"GBUF": "R|E"}), "solve.constraints.dataflow.GBUF",
     "expected a dim of workload conv-small's layers (N, G, K, C, P, Q, R, S), got 'E'"),
    ("dataflow-dim-on-two-axes", _set(_c, "dataflow", {"GBUF": {"Y": ["R"], "X": ["R"]}}),
     "solve.constraints.dataflow.GBUF.X[0]", "expected each dim once in the dataflow of GBUF, got R on Y and on X"),
    ("dataflow-outside-spatial", _set(_c, "dataflow", {"GBUF": {"X": ["Q"]}}), "solve.constraints.dataflow.GBUF.X[0]",
     "expected a dim that spatial.GBUF.X allows (P), got 'Q': a required dim must also be allowed"),
    ("dataflow-shorthand-groups", _set(_c, "dataflow", {"GBUF": "R|P|C"}), "solve.constraints.dataflow.GBUF",
     "expected one '|'-separated group of dims per axis of fanout PE (Y|X), like 'C|K', got 'R|P|C'"),
    ("dataflow-shorthand-empty-group", _set(_c, "dataflow", {"GBUF": "R|"}), "solve.constraints.dataflow.GBUF",
     "expected at least one dim that axis X must carry"),
    ("dataflow-shorthand-empty-name", _set(_c, "dataflow", {"GBUF": "R,,C|P"}), "solve.constraints.dataflow.GBUF",
     "expected a dim of workload conv-small's layers (N, G, K, C, P, Q, R, S), got ''"),
    ("dataflow-blank", _set(_c, "dataflow", {"GBUF": " "}), "solve.constraints.dataflow.GBUF",
     "expected dims per fanout axis separated by '|', like 'C|K', got ' '"),
    ("dataflow-empty-list", _set(_c, "dataflow", {"GBUF": {"Y": []}}), "solve.constraints.dataflow.GBUF.Y",
     "expected a non-empty list of dims like [C] (dims this axis must carry), got a list []"),
    ("dataflow-unquoted-comma", _set(_c, "dataflow", {"GBUF": "R", "C|P": None}), "solve.constraints.dataflow.C|P",
     "expected a level name; a ',' inside {...} separates entries: quote a shorthand with several dims per axis"),
    ("dataflow-number", _set(_c, "dataflow", {"GBUF": 3}), "solve.constraints.dataflow.GBUF",
     "expected a mapping axis -> [dims] like {Y: [R], X: [P]}, or dims per axis like 'R|P', got 3"),
]


@pytest.mark.parametrize("edit, field, expected", [c[1:] for c in SOLVE_CASES], ids=[c[0] for c in SOLVE_CASES])
def test_bad_solve_spec(tmp_path, edit, field, expected):
    path = _write(tmp_path, _edit(SOLVE, edit))
    _assert_spec_error(lambda: load_solve_spec(str(path)), path, field, expected)


def test_solve_spec_keeps_what_the_level_cannot(tmp_path):
    _write(tmp_path, _edit(ARCH, _set(_gbuf, "keeps", ["I", "O"])), "arch.yaml")
    spec = _write(tmp_path, _edit(SOLVE, lambda o: (o["solve"].__setitem__("arch", "arch.yaml"),
                                                     _c(o).__setitem__("keeps", {"GBUF": ["W", "I"]}))))
    _assert_spec_error(lambda: load_solve_spec(str(spec)), spec, "solve.constraints.keeps.GBUF",
                       "expected tensors level GBUF may keep (I, O), got W")


def test_solve_spec_errors_in_named_files_name_those_files(tmp_path):
    spec = _write(tmp_path, _edit(SOLVE, _set(_s, "arch", str(SMALL))))  # a workload where the arch goes
    _assert_spec_error(lambda: load_solve_spec(str(spec)), SMALL, "",
                       "expected a mapping with top-level key 'architecture'")
    spec = _write(tmp_path, {"solv": SOLVE["solve"]})
    _assert_spec_error(lambda: load_solve_spec(str(spec)), spec, "", "expected a mapping with top-level key 'solve'")


def test_cli_solve_bad_spec_exits_2(tmp_path):
    path = _write(tmp_path, _edit(SOLVE, _set(_c, "keeps", {"GLB": ["W"]})))
    proc = _cpmap("solve", str(path))
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr == (f"cpmap: error: {path}: solve.constraints.keeps.GLB: expected a level of eyeriss "
                           "(RF, GBUF, DRAM), got 'GLB'\n")
    proc = _cpmap("check", str(path))
    assert proc.returncode == 2 and "solve.constraints.keeps.GLB" in proc.stderr
    good = _write(tmp_path, SOLVE, "good.yaml")
    proc = _cpmap("check", str(good))
    assert proc.returncode == 0 and f"ok {good} (solve)" in proc.stdout

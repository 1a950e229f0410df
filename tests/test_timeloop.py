"""Timeloop export and import (cpmap/spec/timeloop*.py, `cpmap export timeloop`, `cpmap
import timeloop`): the round trip over random layers, architectures and mappings; hand-
written files in Timeloop's documented forms (v0.3 tree, CNN-Layer shape, permutation
strings inner to outer, split); what has no Timeloop equivalent; one-line errors."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import FAMILIES, DrawChooser, gen_arch, gen_mapping, gen_problem

from cpmap.cli import main
from cpmap.core.arch import Arch, Fanout, Level
from cpmap.core.errors import CpmapError
from cpmap.core.mapping import LevelMapping, Mapping
from cpmap.cost.evaluator import evaluate
from cpmap.spec import load_arch, load_mapping, load_workload
from cpmap.spec.timeloop import export_timeloop
from cpmap.spec.timeloop_import import import_timeloop

ROOT = Path(__file__).resolve().parent.parent
ROUND_TRIP = settings(max_examples=300, deadline=None, derandomize=True, database=None,
                      suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def timeloop_arch(arch: Arch) -> Arch:
    """The part of cpmap's architecture space Timeloop can express: fanout axes X then Y of
    two or more children each, one shared capacity per level."""
    levels = []
    for lv in arch.levels:
        fan = lv.fanout
        if fan is not None:
            fan = dataclasses.replace(fan, axes=tuple((ax, max(2, n)) for ax, (_, n) in zip("XY", fan.axes)))
        cap = lv.capacity if lv.partitions is None else sum(w for _, w in lv.partitions)
        levels.append(dataclasses.replace(lv, capacity=None if lv.unbounded else cap, partitions=None, fanout=fan))
    return dataclasses.replace(arch, levels=tuple(levels))


def normal(mapping: Mapping) -> Mapping:
    """Factor-1 loops dropped: they have no effect and Timeloop writes every dim anyway."""
    return Mapping(tuple(LevelMapping(
        lm.level, tuple(lp for lp in lm.temporal if lp[1] > 1), lm.keeps,
        tuple((ax, tuple(lp for lp in loops if lp[1] > 1)) for ax, loops in lm.spatial
              if any(f > 1 for _, f in loops))) for lm in mapping.levels))


def write(export, directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in export.files.items():
        (directory / name).write_text(text)
    return directory


@st.composite
def timeloop_cases(draw):
    c = DrawChooser(draw)
    problem = gen_problem(c, c.choice(FAMILIES))
    arch = timeloop_arch(gen_arch(c))
    return problem, arch, gen_mapping(c, problem, arch)


@ROUND_TRIP
@given(timeloop_cases())
def test_round_trip_gives_the_same_architecture_layer_and_mapping(tmp_path_factory, case):
    problem, arch, mapping = case
    twice = [d for lm in mapping.levels for d in {x for _, ls in lm.spatial for x, f in ls if f > 1}
             if sum(x == d and f > 1 for _, ls in lm.spatial for x, f in ls) > 1]
    if twice:  # a dim on both axes of one fanout: no Timeloop spatial level holds that
        with pytest.raises(CpmapError, match="unrolled on two axes"):
            export_timeloop(arch, problem, mapping)
        return
    export = export_timeloop(arch, problem, mapping)
    a2, p2, m2 = import_timeloop(str(write(export, tmp_path_factory.mktemp("tl"))), problem.name)
    assert a2 == arch
    assert p2 == problem
    assert normal(m2) == normal(mapping)
    assert evaluate(p2, a2, m2) == evaluate(problem, arch, mapping)


# --------------------------------------------------------------------------- the documented forms

HAND_ARCH = """
architecture:
  version: 0.3
  subtree:
  - name: System
    local:
    - {name: MainMemory, class: DRAM, attributes: {word-bits: 8, width: 64, block-size: 8}}
    - {name: GlobalBuffer, class: SRAM, attributes: {depth: 2048, width: 64, block-size: 8, word-bits: 8}}
    subtree:
    - name: PE[0..15]
      local:
      - {name: RegisterFile, class: regfile, attributes: {depth: 64, word-bits: 8, meshX: 4}}
      - {name: MACC, class: intmac, attributes: {datawidth: 8, meshX: 4}}
"""
HAND_PROBLEM = """
problem:
  shape:
    name: CNN-Layer
    dimensions: [R, S, P, Q, C, K, N]
    coefficients: [{name: Wstride, default: 1}, {name: Hstride, default: 1},
                   {name: Wdilation, default: 1}, {name: Hdilation, default: 1}]
  instance: {R: 3, S: 1, P: 8, Q: 1, C: 4, K: 16, N: 1, Wstride: 2}
"""
HAND_MAPPING = """
mapping:
  - {target: MainMemory, type: temporal, factors: R=1 S=1 P=1 Q=1 C=1 K=2 N=1, permutation: KRSPQCN}
  - {target: GlobalBuffer, type: temporal, factors: R=1 S=1 P=2 Q=1 C=1 K=1 N=1, permutation: PRSQCKN}
  - {target: GlobalBuffer, type: spatial, factors: R=1 S=1 P=1 Q=1 C=2 K=4 N=1, permutation: KCRSPQN,
     split: 1}
  - {target: GlobalBuffer, type: bypass, keep: [Inputs], bypass: [Weights, Outputs]}
  - {target: RegisterFile, type: temporal, factors: R=3 S=1 P=4 Q=1 C=2 K=2 N=1, permutation: RPCKSQN}
"""
HAND_ERT = """
ERT:
  version: 0.3
  tables:
  - name: System.MainMemory
    actions: [{name: read, energy: 100}, {name: write, energy: 120}]
  - name: System.GlobalBuffer
    actions: [{name: read, arguments: {address_delta: 0}, energy: 2}, {name: read, arguments: {address_delta: 1},
              energy: 3}, {name: write, energy: 4}]
  - name: System.PE[0..15].RegisterFile
    actions: [{name: read, energy: 0.5}, {name: write, energy: 0.5}]
  - name: System.PE[0..15].MACC
    actions: [{name: mac_random, energy: 1.5}]
"""


def hand_dir(tmp_path: Path) -> Path:
    for name, text in (("arch.yaml", HAND_ARCH), ("problem.yaml", HAND_PROBLEM), ("mapping.yaml", HAND_MAPPING),
                       ("ERT.yaml", HAND_ERT)):
        (tmp_path / name).write_text(text)
    return tmp_path


def test_hand_written_timeloop_files_in_the_documented_forms(tmp_path):
    arch, problem, mapping = import_timeloop(str(hand_dir(tmp_path)), "layer")
    # 16 PEs in a 4 x 4 mesh (meshX 4): a fanout X 4, Y 4 below the global buffer;
    # GlobalBuffer depth 2048 blocks of 8 words; ERT energies: the largest of the variants
    assert arch == Arch("System", 8, 1.5, (
        Level("RegisterFile", frozenset("WIO"), 0.5, 0.5, capacity=64),
        Level("GlobalBuffer", frozenset("WIO"), 3.0, 4.0, capacity=2048 * 8,
              fanout=Fanout("PE", (("X", 4), ("Y", 4)))),
        Level("MainMemory", frozenset("WIO"), 100.0, 120.0)))
    # CNN-Layer: Wstride pairs with P and R (cpmap's stride_y)
    assert problem.size == {"N": 1, "G": 1, "K": 16, "C": 4, "P": 8, "Q": 1, "R": 3, "S": 1}
    assert dict(problem.params)["stride_y"] == 2 and dict(problem.params)["stride_x"] == 1
    # permutations are inner to outer: RF "RPCK..." -> outer to inner K, C, P, R; spatial
    # "KC..." with split 1 -> K on X, C on Y; keeps from the bypass directive, others keep all
    assert mapping == Mapping((
        LevelMapping("RegisterFile", (("K", 2), ("C", 2), ("P", 4), ("R", 3)), frozenset("WIO")),
        LevelMapping("GlobalBuffer", (("P", 2),), frozenset("I"), (("X", (("K", 4),)), ("Y", (("C", 2),)))),
        LevelMapping("MainMemory", (("K", 2),), frozenset("WIO"))))
    assert evaluate(problem, arch, mapping).valid


def test_no_multicast_and_bypass_constraints_come_back(tmp_path):
    arch = Arch("a", 16, 1.0, (
        Level("RF", frozenset("WO"), 1.0, 1.0, capacity=16),
        Level("GB", frozenset("WIO"), 5.0, 5.0, capacity=512,
              fanout=Fanout("PEs", (("X", 4),), multicast=False, reduction=True, energy_pj=0.5)),
        Level("DRAM", frozenset("WIO"), 100.0, 100.0)))
    from cpmap.core.problem import fc
    p = fc("fc", N=2, K=8, C=4)
    m = Mapping((LevelMapping("RF", (("C", 4),), frozenset("WO")),
                 LevelMapping("GB", (("N", 2),), frozenset("WIO"), (("X", (("K", 4),)),)),
                 LevelMapping("DRAM", (("K", 2),), frozenset("WIO"))))
    export = export_timeloop(arch, p, m)
    spatial = next(d for d in yaml.safe_load(export.files["mapping.yaml"])["mapping"] if d["type"] == "spatial")
    assert spatial["no_multicast_no_reduction"] == ["Weights", "Inputs"]
    assert yaml.safe_load(export.files["constraints.yaml"]) == {
        "constraints": {"targets": [{"target": "RF", "type": "bypass", "bypass": ["Inputs"]}]}}
    assert import_timeloop(str(write(export, tmp_path)), "fc") == (arch, p, m)


def test_what_has_no_timeloop_equivalent_is_reported():
    arch = load_arch(str(ROOT / "specs" / "eyeriss.yaml"))
    parts = dataclasses.replace(arch.levels[0], capacity=None, partitions=(("W", 224), ("I", 12), ("O", 24)))
    arch = dataclasses.replace(arch, levels=(parts,) + arch.levels[1:])
    wl = load_workload(str(ROOT / "specs" / "examples" / "conv-small.yaml"))
    m = Mapping((LevelMapping("RF", (("S", 3),), frozenset("WIO")),
                 LevelMapping("GBUF", (("K", 16), ("C", 8), ("Q", 14)), frozenset("WIO"),
                              (("Y", (("R", 3),)), ("X", (("P", 14),)))),
                 LevelMapping("DRAM", (), frozenset("WIO"))))
    export = export_timeloop(arch, wl.layer("conv").problem, m)
    assert any("partitions" in w and "260 words" in w for w in export.warnings)
    assert any("2.0 pJ per word" in w for w in export.warnings)
    tree = yaml.safe_load(export.files["arch.yaml"])["architecture"]["subtree"][0]
    rf = tree["subtree"][0]["local"][0]
    assert rf["attributes"]["depth"] == 260 and rf["attributes"]["meshX"] == 14  # X: 14 columns


def test_cli_export_then_import_evaluates_the_same(tmp_path, capsys):
    out = tmp_path / "tl"
    args = ["--arch", str(ROOT / "specs/eyeriss.yaml"), "--workload", str(ROOT / "specs/examples/conv-small.yaml"),
            "--mapping", str(ROOT / "specs/examples/conv-small-mapping-eyeriss.yaml")]
    assert main(["export", "timeloop", *args, "-o", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["ERT.yaml", "arch.yaml", "constraints.yaml", "mapping.yaml",
                                                      "problem.yaml"]
    capsys.readouterr()
    assert main(["import", "timeloop", str(out), "-o", str(tmp_path / "back")]) == 0
    text = capsys.readouterr().out
    wl = load_workload(str(ROOT / "specs/examples/conv-small.yaml"))
    arch = load_arch(str(ROOT / "specs/eyeriss.yaml"))
    m = load_mapping(str(ROOT / "specs/examples/conv-small-mapping-eyeriss.yaml"), wl.layer("conv").problem, arch)
    energy = evaluate(wl.layer("conv").problem, arch, m).energy_pj
    assert f"{energy:,.2f} pJ" in text
    back = load_arch(str(tmp_path / "back" / "arch.yaml"))
    assert back.levels[1].fanout.axes == (("X", 14), ("Y", 12))  # Timeloop's axes come back as X, Y
    assert math.isclose(energy, 2_720_640.0)


def test_cli_errors_are_one_line(tmp_path, capsys):
    (tmp_path / "arch.yaml").write_text("architecture: {version: 0.3}\n")
    (tmp_path / "mapping.yaml").write_text("mapping: []\n")
    for argv, want in ((["import", "timeloop", str(tmp_path / "none")], "expected a directory"),
                       (["import", "timeloop", str(tmp_path)], "expected a Timeloop v0.3 architecture tree"),
                       (["import", "timeloop"], "expected the directory to read"),
                       (["export", "timeloop", "--arch", "x.yaml", "--workload", "y", "--mapping", "z"],
                        "cannot read file")):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert want in err and err.count("\n") == 1, err

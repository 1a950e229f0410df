"""Bundled specs load, units convert, defaults apply and mappings round-trip."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from strategies import cases

from cpmap.core.arch import Arch
from cpmap.core.errors import CpmapError, SpecError
from cpmap.core.workload import Workload
from cpmap.spec.sweep import SweepSpec
from cpmap.cost.evaluator import evaluate
from cpmap.spec import (
    MappingSpec,
    SolvePlan,
    StrictLoader,
    arch_from_obj,
    load_any,
    load_arch,
    load_mapping,
    load_workload,
    mapping_from_obj,
    mapping_to_obj,
    mapping_to_yaml,
    read_yaml,
    workload_from_obj,
)

ROOT = Path(__file__).resolve().parent.parent
BUNDLED = sorted([*ROOT.glob("specs/*.yaml"), *ROOT.glob("specs/examples/*.yaml"), *ROOT.glob("models/*.yaml")])
EXAMPLE_WORKLOAD = ROOT / "specs/examples/conv-small.yaml"
EXAMPLE_MAPPING = ROOT / "specs/examples/conv-small-mapping-eyeriss.yaml"


def _arch_obj(capacity, word_bits=16) -> dict:
    return {"architecture": {"name": "t", "word_bits": word_bits, "mac_energy_pj": 1, "levels": [
        {"name": "RF", "capacity": capacity, "keeps": ["W", "I", "O"], "read_energy_pj": 1,
         "write_energy_pj": 1},
        {"name": "DRAM", "keeps": ["W", "I", "O"], "read_energy_pj": 200, "write_energy_pj": 200},
    ]}}


EXAMPLE_KINDS = {"conv-small.yaml": "workload", "conv-small-mapping-eyeriss.yaml": "mapping",
                 "conv-small-mapping-nnd-4x4.yaml": "mapping",
                 "conv-small-solve.yaml": "solve", "alexnet-eyeriss.yaml": "solve",
                 "maestro-like.yaml": "architecture", "maestro-bound.yaml": "solve", "sweep-small.yaml": "sweep"}
EXAMPLE_KINDS |= {f"suite-{m}.yaml": "solve" for m in ("alexnet", "vgg16", "googlenet", "mobilenet_v1", "lstm_m",
                                                      "lstm_l", "rhn", "mlp_m", "mlp_l")}
"""The kind of each file in specs/examples/ (specs/*.yaml are architectures, models/*.yaml
workloads)."""


def expected_kind(path: Path) -> str:
    if path.parent.name == "models":
        return "workload"
    if path.parent.name == "examples":
        assert path.name in EXAMPLE_KINDS, f"add {path.name} to EXAMPLE_KINDS"
        return EXAMPLE_KINDS[path.name]
    return "architecture"


@pytest.mark.parametrize("path", BUNDLED, ids=lambda p: str(p.relative_to(ROOT)))
def test_bundled_spec_loads(path):
    kind, obj = load_any(str(path))
    assert kind == expected_kind(path)
    assert type(obj) is {"architecture": Arch, "workload": Workload, "mapping": MappingSpec,
                         "solve": SolvePlan, "sweep": SweepSpec}[kind]


def test_bundled_found():
    names = {str(p.relative_to(ROOT)) for p in BUNDLED}
    assert {"specs/eyeriss.yaml", "specs/eyeriss-nnd.yaml", "specs/interstellar.yaml", "specs/tpu-like.yaml",
            "models/alexnet.yaml", "specs/examples/conv-small.yaml"} <= names


@pytest.mark.parametrize("capacity, word_bits, words", [
    (300, 16, 300),
    ("256 words", 16, 256),
    ("1 word", 16, 1),
    ("512 B", 16, 256),
    ("512B", 16, 256),
    ("108 KiB", 16, 55296),
    ("1.5 KiB", 16, 768),
    ("2 MiB", 8, 2 * 1024 * 1024),
    ("24 MiB", 8, 24 * 1024 * 1024),
    ("64 B", 32, 16),
])
def test_capacity_units(capacity, word_bits, words):
    assert arch_from_obj(_arch_obj(capacity, word_bits)).levels[0].capacity == words


def test_partitions_convert_per_tensor():
    obj = _arch_obj(1)
    rf = obj["architecture"]["levels"][0]
    del rf["capacity"]
    rf["partitions"] = {"W": "448 B", "I": 12, "O": "24 words"}
    level = arch_from_obj(obj).levels[0]
    assert dict(level.partitions) == {"W": 224, "I": 12, "O": 24}
    assert level.capacity is None


def test_eyeriss_numbers():
    arch = load_arch(str(ROOT / "specs/eyeriss.yaml"))
    rf, gbuf, dram = arch.levels
    assert (rf.capacity, gbuf.capacity, dram.unbounded) == (256, 55296, True)
    assert (arch.mac_pj, rf.read_pj, gbuf.read_pj, dram.read_pj, gbuf.fanout.energy_pj) == (1, 1, 6, 200, 2)
    assert gbuf.fanout.axes == (("Y", 12), ("X", 14)) and arch.pes == 168
    assert gbuf.fanout.multicast and gbuf.fanout.reduction


def test_other_archs():
    nnd = load_arch(str(ROOT / "specs/eyeriss-nnd.yaml"))
    assert (nnd.pes, nnd.levels[0].capacity, nnd.levels[1].capacity) == (256, 256, 65536)
    inter = load_arch(str(ROOT / "specs/interstellar.yaml"))
    assert (inter.pes, inter.levels[0].capacity, inter.levels[0].read_pj, inter.levels[1].read_pj,
            inter.mac_pj) == (256, 32, 0.12, 20.25, 0.075)
    tpu = load_arch(str(ROOT / "specs/tpu-like.yaml"))
    assert tpu.pes == 128 * 128 and tpu.levels[0].keeps == {"W"}
    assert tpu.levels[1].capacity == 24 * 2**20  # 8-bit words


def test_alexnet_matches_nn_dataflow():
    wl = load_workload(str(ROOT / "models/alexnet.yaml"))
    assert wl.macs == 725_508_992  # nn_dataflow: 7.255e+08 at batch 1
    conv2 = wl.layer("conv2").problem
    assert conv2.size["G"] == 2 and conv2.size["K"] == 128 and conv2.size["C"] == 48
    assert 2 * 111_974_400 == conv2.macs  # conv2_a + conv2_b
    assert wl.layer("conv1").inputs == ("data",)
    assert wl.layer("fc1").inputs == ("pool3",)


def test_workload_defaults_and_batch():
    wl = workload_from_obj({"workload": {"name": "w", "batch": 4, "inputs": ["x", "y"], "layers": [
        {"name": "a", "type": "conv", "K": 4, "C": 2, "P": 3, "Q": 3, "R": 3, "S": 3, "stride": [1, 2]},
        {"name": "b", "type": "fc", "K": 3, "C": 4, "N": 2},
        {"name": "c", "type": "gemm", "M": 2, "N": 3, "K": 4},
        {"name": "d", "type": "eltwise", "C": 4, "inputs": ["a", "y"]},
        {"name": "e", "type": "pool", "C": 4, "P": 2, "Q": 2, "R": 2, "S": 2, "stride": 2},
    ]}})
    a, b, c, d, e = wl.layers
    assert a.inputs == ("x", "y") and b.inputs == ("a",) and d.inputs == ("a", "y")
    assert a.problem.size["N"] == 4 and b.problem.size["N"] == 2  # batch fills N unless given
    assert c.problem.size == {"B": 1, "M": 2, "N": 3, "K": 4}    # gemm's N is not the batch
    assert dict(a.problem.params)["stride_x"] == 2 and d.problem.size["E"] == 2
    assert e.problem.size["N"] == 4 and a.problem.name == "a"


def test_gemm_batch_dim():
    """A gemm's sizes are per sample; batch_dim names the dim the workload batch multiplies."""
    def layers(batch, **extra):
        return workload_from_obj({"workload": {"name": "w", "batch": batch, "layers": [
            {"name": "proj", "type": "gemm", "M": 197, "N": 2304, "K": 768, "batch_dim": "M"},
            {"name": "qk", "type": "gemm", "M": 197, "N": 197, "K": 64, "B": 12, "batch_dim": "B"},
            {"name": "fixed", "type": "gemm", "M": 2, "N": 3, "K": 4, **extra},
        ]}}).layers
    proj, qk, fixed = layers(16)
    assert proj.problem.size == {"B": 1, "M": 197 * 16, "N": 2304, "K": 768}
    assert qk.problem.size == {"B": 12 * 16, "M": 197, "N": 197, "K": 64}
    assert fixed.problem.size == {"B": 1, "M": 2, "N": 3, "K": 4}  # no batch_dim: batch does not apply
    assert layers(3, batch_dim="N")[2].problem.size["N"] == 9
    assert layers(1, batch_dim="B")[2].problem == layers(1)[2].problem  # batch 1 changes nothing
    with pytest.raises(SpecError, match=r"layers\[2\]\.batch_dim: expected one of M \| N \| B"):
        layers(2, batch_dim="K")
    with pytest.raises(SpecError, match=r"unknown key"):
        workload_from_obj({"workload": {"name": "w", "layers": [
            {"name": "f", "type": "fc", "K": 2, "C": 2, "batch_dim": "N"}]}})


def test_depthwise_conv():
    wl = workload_from_obj({"workload": {"name": "w", "layers": [
        {"name": "dw", "type": "conv", "K": 32, "C": 32, "P": 7, "Q": 7, "R": 3, "S": 3, "groups": 32}]}})
    assert wl.layers[0].problem.size["G"] == 32 and wl.layers[0].problem.size["K"] == 1


def test_unknown_layer_lists_names():
    wl = load_workload(str(ROOT / "models/alexnet.yaml"))
    with pytest.raises(CpmapError, match="conv1, pool1, conv2"):
        wl.layer("conv9")


def test_yaml_merge_keys_are_not_duplicates(tmp_path):
    f = tmp_path / "m.yaml"
    f.write_text("base: &b {x: 1, y: 2}\nother:\n  <<: *b\n  y: 3\n")
    assert read_yaml(str(f)) == {"base": {"x": 1, "y": 2}, "other": {"x": 1, "y": 3}}


def test_yaml_rejects_python_tags(tmp_path):
    f = tmp_path / "evil.yaml"
    f.write_text("x: !!python/object/apply:os.system ['true']\n")
    with pytest.raises(SpecError, match="line 1"):
        read_yaml(str(f))


def _example():
    wl = load_workload(str(EXAMPLE_WORKLOAD))
    arch = load_arch(str(ROOT / "specs/eyeriss.yaml"))
    problem = wl.layers[0].problem
    return problem, arch, load_mapping(str(EXAMPLE_MAPPING), problem, arch)


def test_example_mapping_is_valid_and_full():
    problem, arch, mapping = _example()
    result = evaluate(problem, arch, mapping)
    assert result.valid, result.errors
    assert result.utilization == 1.0
    assert sum(result.tiles["RF"].values()) <= arch.levels[0].capacity


def test_mapping_levels_innermost_first():
    _, arch, mapping = _example()
    assert [lm.level for lm in mapping.levels] == list(arch.level_names)
    assert mapping.levels[1].spatial == (("Y", (("R", 3), ("C", 4))), ("X", (("P", 14),)))
    assert mapping.levels[0].temporal == (("K", 4), ("Q", 14), ("S", 3))


def test_mapping_round_trip_example():
    problem, arch, mapping = _example()
    obj = mapping_to_obj(mapping)
    assert [e["level"] for e in obj] == ["DRAM", "GBUF", "RF"]
    assert mapping_from_obj(obj, problem, arch) == mapping
    text = mapping_to_yaml(mapping, layer="conv")
    assert mapping_from_obj(yaml.safe_load(text), problem, arch) == mapping
    assert yaml.safe_load(text)["layer"] == "conv"


@settings(max_examples=60, deadline=None)
@given(cases("conv"))
def test_mapping_round_trip_random(case):
    problem, arch, mapping = case
    text = yaml.safe_dump(mapping_to_obj(mapping), sort_keys=False)
    assert mapping_from_obj(yaml.safe_load(text), problem, arch) == mapping


@settings(max_examples=30, deadline=None)
@given(cases("gemm"))
def test_mapping_round_trip_random_gemm(case):
    problem, arch, mapping = case
    assert mapping_from_obj(mapping_to_obj(mapping), problem, arch) == mapping


def test_docs_examples_load():
    """The commented examples in docs/specs.md stay valid (architecture, workload, mapping)."""
    blocks = re.findall(r"```yaml\n(.*?)```", (ROOT / "docs/specs.md").read_text(), re.DOTALL)
    docs = [yaml.load(b, Loader=StrictLoader) for b in blocks]
    kinds = [next(k for k in ("architecture", "workload", "mapping", "solve") if k in d) for d in docs]
    assert kinds == ["architecture", "architecture", "workload", "mapping", "solve"]  # solve: test_solve_cli.py
    assert arch_from_obj(docs[0]).pes == 168
    mesh = arch_from_obj(docs.pop(1))  # the multi-node example: 4x4 nodes of 16x16 PEs
    assert mesh.pes == 4096 and mesh.levels[-1].fanout.mesh and mesh.levels[-1].memory.placement == "corners"
    assert len(workload_from_obj(docs[1]).layers) == 5
    problem, arch, _ = _example()
    assert evaluate(problem, arch, mapping_from_obj(docs[2], problem, arch)).valid


def test_divisors_match_trial_division():
    from cpmap.core.factors import divisors
    for n in range(1, 2000):
        assert divisors(n) == [d for d in range(1, n + 1) if n % d == 0]
    assert divisors(10**9)[:4] == [1, 2, 4, 5] and len(divisors(10**9)) == 100  # (9 + 1) ** 2
    assert divisors(4093) == [1, 4093] and divisors(2**31 - 1) == [1, 2**31 - 1]  # primes

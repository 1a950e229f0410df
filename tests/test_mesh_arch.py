"""Mesh fanouts, memory channels and static energy in architecture files: what loads,
what round-trips, and one-line errors naming the file, the field and what was expected."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from cpmap.core.arch import MeshMemory
from cpmap.core.errors import SpecError
from cpmap.spec import load_arch
from cpmap.spec.arch import arch_from_obj, arch_to_obj

ROOT = Path(__file__).resolve().parent.parent

MESH = {"architecture": {
    "name": "m", "word_bits": 16, "mac_energy_pj": 1, "static_energy_pj_per_cycle": 3,
    "levels": [
        {"name": "RF", "capacity": 64, "keeps": ["W", "I", "O"], "read_energy_pj": 1, "write_energy_pj": 1},
        {"name": "DRAM", "keeps": ["W", "I", "O"], "read_energy_pj": 200, "write_energy_pj": 200,
         "memory": "corners", "channel_bandwidth": 4,
         "fanout": {"name": "NoC", "axes": {"NY": 2, "NX": 3}, "topology": "mesh", "hop_energy_pj": 10}}]}}


def _edited(fn):
    obj = copy.deepcopy(MESH)
    fn(obj["architecture"])
    return obj


def _dram(a):
    return a["levels"][1]


def test_mesh_arch_loads_and_round_trips():
    arch = arch_from_obj(MESH)
    fan, dram = arch.levels[1].fanout, arch.levels[1]
    assert fan.mesh and fan.shape == (2, 3) and fan.hop_energy_pj == 10
    assert dram.memory == MeshMemory("corners", (), 4)
    assert dram.memory.coordinates(2, 3) == ((0, 0), (0, 2), (1, 0), (1, 2))
    assert arch.static_pj_per_cycle == 3 and arch.beyond_flat
    assert arch_from_obj(arch_to_obj(arch)) == arch
    explicit = arch_from_obj(_edited(lambda a: _dram(a).__setitem__("memory", [[1, 2], [0, 0]])))
    assert explicit.levels[1].memory.coordinates(2, 3) == ((1, 2), (0, 0))  # as listed: tie order
    assert arch_from_obj(arch_to_obj(explicit)) == explicit


def test_memory_placements():
    m = MeshMemory("per_node")
    assert m.coordinates(2, 2) == ((0, 0), (0, 1), (1, 0), (1, 1))
    assert MeshMemory("corners").coordinates(1, 3) == ((0, 0), (0, 2))  # a 1-row mesh: 2 corners


def test_flat_arch_unchanged():
    """A flat architecture loads to the same objects as before and writes no new keys."""
    arch = load_arch(ROOT / "specs/eyeriss.yaml")
    assert not arch.beyond_flat and arch.static_pj_per_cycle == 0
    assert all(lv.memory is None and (lv.fanout is None or lv.fanout.topology == "flat") for lv in arch.levels)
    text = yaml.safe_dump(arch_to_obj(arch))
    for key in ("topology", "memory", "hop_energy_pj", "static_energy", "channel_bandwidth"):
        assert key not in text


BAD = [
    (lambda a: _dram(a)["fanout"].__setitem__("axes", {"NY": 2, "NX": 2, "NZ": 2}),
     "architecture.levels[1].fanout.axes", "expected two axes for a mesh"),
    (lambda a: _dram(a)["fanout"].__setitem__("axes", {"NY": 33, "NX": 32}),
     "architecture.levels[1].fanout", "a mesh has at most 1,024 nodes, got 33 x 32"),
    (lambda a: _dram(a)["fanout"].__delitem__("hop_energy_pj"),
     "architecture.levels[1].fanout.hop_energy_pj", "missing required field"),
    (lambda a: _dram(a)["fanout"].__setitem__("topology", "torus"),
     "architecture.levels[1].fanout.topology", "expected one of flat | mesh"),
    (lambda a: _dram(a)["fanout"].__setitem__("hop_energy_pj", -1),
     "architecture.levels[1].fanout.hop_energy_pj", "expected an energy in pJ"),
    (lambda a: (_dram(a)["fanout"].__delitem__("topology")),
     "architecture.levels[1].fanout.hop_energy_pj", "expected only with topology: mesh"),
    (lambda a: _dram(a).__delitem__("memory"), "architecture.levels[1].memory", "missing required field"),
    (lambda a: _dram(a).__setitem__("memory", "edges"), "architecture.levels[1].memory",
     "expected one of corners | per_node"),
    (lambda a: _dram(a).__setitem__("memory", [[0, 0], [2, 0]]), "architecture.levels[1].memory[1]",
     "expected a node of the 2x3 mesh"),
    (lambda a: _dram(a).__setitem__("memory", [[0, 1], [0, 1]]), "architecture.levels[1].memory[1]",
     "expected each channel once"),
    (lambda a: _dram(a).__setitem__("memory", [[0, -1]]), "architecture.levels[1].memory[0]",
     "expected a channel coordinate [row, column]"),
    (lambda a: _dram(a).__setitem__("memory", []), "architecture.levels[1].memory",
     "expected corners, per_node or a list"),
    (lambda a: _dram(a).__setitem__("channel_bandwidth", 0), "architecture.levels[1].channel_bandwidth",
     "expected a bandwidth >= 1e-06 words per cycle"),
    (lambda a: a["levels"][0].__setitem__("memory", "corners"), "architecture.levels[0].memory",
     "expected only on a level whose fanout has topology: mesh"),
    (lambda a: a.__setitem__("static_energy_pj_per_cycle", -2), "architecture.static_energy_pj_per_cycle",
     "expected an energy in pJ"),
]


@pytest.mark.parametrize("edit, field, expected", BAD)
def test_bad_mesh_arch(edit, field, expected):
    with pytest.raises(SpecError) as err:
        arch_from_obj(_edited(edit), "arch.yaml")
    msg = str(err.value)
    assert msg.startswith(f"arch.yaml: {field}: ") and expected in msg and "\n" not in msg, msg


def test_cli_bad_mesh_arch_exits_2_on_one_line(tmp_path):
    path = tmp_path / "arch.yaml"
    path.write_text(yaml.safe_dump(_edited(lambda a: _dram(a).__delitem__("memory"))))
    proc = subprocess.run([sys.executable, "-m", "cpmap", "check", str(path)], cwd=ROOT,
                          capture_output=True, text=True)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "levels[1].memory" in lines[0] and "Traceback" not in proc.stderr


@pytest.mark.parametrize("file, pes, gbuf_words, pj, hop, static, memory", [
    # nn_dataflow_search.py: --array 16 16 x --nodes 4 4, --gbuf 131072 B / 2 B, --hier-cost 200 6 2 1,
    # --op-cost 1, --hop-cost 10, --unit-idle-cost 0, --mem-type 2D / 3D
    ("nnd-4x4.yaml", 16 * 16 * 16, 131072 // 2, (1, 200, 6, 2, 1), 10, 0, "corners"),
    ("nnd-4x4-3d.yaml", 16 * 16 * 16, 131072 // 2, (1, 200, 6, 2, 1), 10, 0, "per_node"),
    # test_eyeriss_asplos17's T-16: 14x14 PEs x 4x4 nodes, size_gbuf 133032 // 2, mac 2,
    # mem_hier (80, 14, 4, 0.6), noc_hop 40, idl_unit 200, dram region = all nodes
    ("tetris-t16.yaml", 14 * 14 * 16, 133032 // 2, (2, 80, 14, 4, 0.6), 40, 200, "per_node"),
])
def test_bundled_multinode_specs(file, pes, gbuf_words, pj, hop, static, memory):
    arch = load_arch(ROOT / "specs" / file)
    rf, gbuf, dram = arch.levels
    mac, dram_pj, gbuf_pj, array_pj, rf_pj = pj
    assert arch.pes == pes and arch.word_bits == 16 and arch.mac_pj == mac
    assert rf.capacity == 512 // 2 and gbuf.capacity == gbuf_words
    assert (rf.read_pj, gbuf.read_pj, dram.read_pj) == (rf_pj, gbuf_pj, dram_pj)
    assert (rf.write_pj, gbuf.write_pj, dram.write_pj) == (rf_pj, gbuf_pj, dram_pj)
    assert gbuf.fanout.energy_pj == array_pj and not gbuf.fanout.mesh
    assert dram.fanout.mesh and dram.fanout.shape == (4, 4) and dram.fanout.hop_energy_pj == hop
    assert dram.fanout.energy_pj == 0 and dram.memory.placement == memory and dram.memory.bandwidth is None
    assert arch.static_pj_per_cycle == static

"""Mesh NoC hops, channel bandwidth and static energy (docs/cost-model.md, section 10):
the section's worked example counted by hand, the unroll order on one axis, the XY tree,
the tie rule, and flat architectures unchanged."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from cpmap.cli import main
from cpmap.core.arch import Arch, Fanout, Level, MeshMemory
from cpmap.core.mapping import LevelMapping, Mapping
from cpmap.core.problem import fc
from cpmap.cost.evaluator import evaluate
from cpmap.cost.noc import tree_links
from cpmap.spec.arch import arch_to_obj
from cpmap.spec.mapping import mapping_to_obj

ROOT = Path(__file__).resolve().parent.parent

# section 10's example: fc N=2, K=3, C=2 on a 2x3 mesh of single-RF nodes
PROBLEM = fc("fc", N=2, K=3, C=2)


def mesh_arch(memory=MeshMemory("corners", (), 2), static=5.0, rows=2, cols=3, hop=10.0):
    return Arch("mesh-example", 16, 1.0, (
        Level("RF", frozenset("WIO"), read_pj=1.0, write_pj=1.0, capacity=64),
        Level("DRAM", frozenset("WIO"), read_pj=200.0, write_pj=200.0,
              fanout=Fanout("NoC", (("NY", rows), ("NX", cols)), topology="mesh", hop_energy_pj=hop),
              memory=memory)), static_pj_per_cycle=static)


MAPPING = Mapping((LevelMapping("RF", (("N", 2),), frozenset("WIO")),
                   LevelMapping("DRAM", (), frozenset("WIO"), (("NY", (("C", 2),)), ("NX", (("K", 3),))))))


def test_worked_example_by_hand():
    r = evaluate(PROBLEM, mesh_arch(), MAPPING)
    assert r.valid
    # accesses (section 3, unchanged by the mesh)
    assert r.accesses["DRAM"] == {"W": {"reads": 6, "writes": 0}, "I": {"reads": 4, "writes": 0},
                                  "O": {"reads": 0, "writes": 6}}
    assert r.accesses["RF"] == {"W": {"reads": 12, "writes": 6}, "I": {"reads": 12, "writes": 12},
                                "O": {"reads": 0, "writes": 12}}
    # W unicast: 1 word to each node from its nearest corner: 0+1+0 + 0+1+0 = 2 word-hops
    # I multicast per row (K irrelevant): tree of 2 links x 2 words x 2 rows = 8
    # O reduced per column (C irrelevant): trees of 1, 2, 1 links x 2 words = 8
    noc = r.noc["NoC"]
    assert noc["hops"] == {"W": 2, "I": 8, "O": 8}
    assert noc["nodes_used"] == 6
    assert noc["channel_words"] == [8, 3, 4, 1]  # TL, TR, BL, BR
    assert noc["energy_pj"] == pytest.approx(180.0)
    # channel TL carries 8 words at 2 words/cycle: 4 cycles > 2 compute cycles
    assert r.compute_cycles == 2 and r.cycles == 4
    assert r.static_pj == pytest.approx(20.0)
    # RF 54 + DRAM 16 x 200 + MAC 12 + hops 180 + static 20
    assert r.energy_pj == pytest.approx(3466.0)
    assert r.energy_breakdown["noc"] == {"NoC": pytest.approx(180.0)}
    assert r.energy_breakdown["static"] == pytest.approx(20.0)


def test_worked_example_per_node_memory():
    # 3D memory: W 0 hops; I still multicast along each row (2 links x 2 words x 2 rows);
    # O columns reduced into one of their two nodes' vaults (1 link x 2 words x 3)
    r = evaluate(PROBLEM, mesh_arch(MeshMemory("per_node"), static=0.0), MAPPING)
    assert r.noc["NoC"]["hops"] == {"W": 0, "I": 8, "O": 6}
    assert r.static_pj == 0 and "static" not in r.energy_breakdown
    assert r.cycles == 2  # no channel bandwidth: compute-bound


@pytest.mark.parametrize("order, o_hops, i_hops", [((("K", 2), ("C", 2)), 4, 5), ((("C", 2), ("K", 2)), 5, 4)])
def test_unroll_order_on_one_axis_decides_the_nodes(order, o_hops, i_hops):
    # fc N=1, K=2, C=2 on a 4x1 column, one channel at the top.  NY {K: 2, C: 2} puts
    # (k, c) in row 2k + c: the O groups (same k) are rows {0,1} and {2,3}: trees of 1
    # and 3 links; the I groups (same c) rows {0,2} and {1,3}: 2 and 3 links.  The
    # other order swaps them.  W (all relevant) goes to each row alone: 0+1+2+3.
    p = fc("fc", N=1, K=2, C=2)
    arch = mesh_arch(MeshMemory("channels", ((0, 0),)), static=0.0, rows=4, cols=1)
    m = Mapping((LevelMapping("RF", (), frozenset("WIO")),
                 LevelMapping("DRAM", (), frozenset("WIO"), (("NY", order),))))
    assert evaluate(p, arch, m).noc["NoC"]["hops"] == {"W": 6, "I": i_hops, "O": o_hops}


def test_xy_tree_and_tie_rule():
    # along row 0 to column 2 (2 links), then down column 2 to row 2 (2) and column 1 to row 1 (1)
    assert tree_links((0, 0), [(2, 2), (1, 1)]) == 5
    # a YX tree would share the column: 2 + 1 + 1 = 4; XY does not
    assert tree_links((0, 0), [(2, 2), (2, 1)]) == 2 + 2 + 2
    # node (0,1) of a 2x3 mesh is 1 hop from both top corners: served by TL (first)
    r = evaluate(PROBLEM, mesh_arch(), MAPPING)
    assert r.noc["NoC"]["channel_words"][0] > r.noc["NoC"]["channel_words"][1]


def test_zero_hop_energy_and_static_match_the_flat_model():
    """A mesh with hop energy 0 and no static energy costs exactly what the flat fanout does."""
    flat = Arch("flat", 16, 1.0, (mesh_arch().levels[0], Level(
        "DRAM", frozenset("WIO"), 200.0, 200.0, fanout=Fanout("NoC", (("NY", 2), ("NX", 3))))))
    a = evaluate(PROBLEM, mesh_arch(MeshMemory("corners"), static=0.0, hop=0.0), MAPPING)
    b = evaluate(PROBLEM, flat, MAPPING)
    assert a.energy_pj == b.energy_pj and a.accesses == b.accesses and a.cycles == b.cycles
    assert "noc" not in b.to_json() and "static_pj" not in b.to_json()


def test_cli_evaluate_shows_the_mesh(tmp_path, capsys):
    paths = {}
    for name, obj in (("arch", arch_to_obj(mesh_arch())), ("work", workload_to_obj_one()),
                      ("map", {"layer": "fc", "mapping": mapping_to_obj(MAPPING)})):
        paths[name] = tmp_path / f"{name}.yaml"
        paths[name].write_text(yaml.safe_dump(obj, sort_keys=False))
    cmd = ["evaluate", "--arch", str(paths["arch"]), "--workload", str(paths["work"]), "--mapping", str(paths["map"])]
    assert main(cmd) == 0  # in-process: test_bad_input covers the CLI's process boundary
    text = capsys.readouterr().out
    assert "NoC" in text and "nodes used" in text and "static" in text
    assert "6 of 6" in text and "180" in text
    assert main([*cmd, "--json"]) == 0
    js = json.loads(capsys.readouterr().out)
    assert js["noc"]["NoC"]["hops"] == {"W": 2, "I": 8, "O": 8} and js["static_pj"] == 20.0
    assert main([*cmd, "--compat", "timeloop"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "compat" in err


def workload_to_obj_one() -> dict:
    return {"workload": {"name": "w", "layers": [{"name": "fc", "type": "fc", "N": 2, "K": 3, "C": 2}]}}


def test_searchers_price_hops_through_the_evaluator():
    """The batch path does not price hops: it refuses a mesh, and the searchers fall back to
    the evaluator, so what they report includes hops and static energy."""
    from cpmap.cost.batch import BatchEvaluator
    from cpmap.search.genetic import genetic_search
    from cpmap.search.random_search import random_search

    with pytest.raises(ValueError, match="mesh hops or static energy"):
        BatchEvaluator(PROBLEM, mesh_arch())
    for res in (random_search(PROBLEM, mesh_arch(), samples=300, seed=1),
                genetic_search(PROBLEM, mesh_arch(), generations=3, population=16, seed=1)):
        again = evaluate(PROBLEM, mesh_arch(), res.best_mapping)
        assert res.best_result.energy_pj == again.energy_pj and "noc" in res.best_result.to_json()


@pytest.mark.parametrize("arch, w_hops, i_hops", [("nnd-4x4", 5760, 9072), ("nnd-4x4-3d", 3456, 7776)])
def test_bundled_example_on_the_node_mesh(arch, w_hops, i_hops):
    """specs/examples/conv-small-mapping-nnd-4x4.yaml (K 16, C 8, P Q 14, R S 3), counted by
    hand.  Node (r, c) holds output channels 4r..4r+3 and output quarter c.  Tiles per node:
    W 4*8*3*3 = 288 (same along a row: one tree per row), I 8 * 9 * 9 = 648 (7 outputs + 2
    halo rows and columns; same down a column: one tree per column), O 4*7*7 = 196 (own).
    Corners: row r's tree runs along the corner's row (3 links) then down 4 columns |r - r0|
    each: rows 0, 3: 3; rows 1, 2: 3 + 4 = 7; W (3+7+7+3) * 288 = 5,760.  Column c's tree:
    |c - c0| along the corner's row, then 3 down: 3, 1+3, 1+3, 3; I 14 * 648 = 9,072.  O:
    each node to its nearest corner, min(r, 3-r) + min(c, 3-c): 2 + 6 + 6 + 2 = 16;
    16 * 196 = 3,136.  Per node: a row's tree from one of its nodes is 3 links, a column's
    3: W 12 * 288 = 3,456, I 12 * 648 = 7,776, O 0."""
    from cpmap.spec import load_arch, load_mapping, load_workload

    problem = load_workload(ROOT / "specs/examples/conv-small.yaml").layers[0].problem
    a = load_arch(ROOT / "specs" / f"{arch}.yaml")
    m = load_mapping(ROOT / "specs/examples/conv-small-mapping-nnd-4x4.yaml", problem, a)
    r = evaluate(problem, a, m)
    assert r.valid and r.noc["NoC"]["nodes_used"] == 16
    assert r.noc["NoC"]["hops"] == {"W": w_hops, "I": i_hops, "O": 3136 if arch == "nnd-4x4" else 0}
    assert r.noc["NoC"]["energy_pj"] == 10 * (w_hops + i_hops + (3136 if arch == "nnd-4x4" else 0))


def test_export_timeloop_of_a_mesh_warns_instead_of_failing(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "cpmap", "export", "timeloop", "--arch", "specs/nnd-4x4.yaml",
                           "--workload", "specs/examples/conv-small.yaml", "--mapping",
                           "specs/examples/conv-small-mapping-nnd-4x4.yaml", "-o", str(tmp_path / "tl")],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    assert "no Timeloop equivalent: a mesh" in proc.stderr and "--compat timeloop:" not in proc.stdout
    from cpmap.spec import load_arch, load_mapping, load_workload

    problem = load_workload(ROOT / "specs/examples/conv-small.yaml").layers[0].problem
    arch = load_arch(ROOT / "specs/nnd-4x4.yaml")
    r = evaluate(problem, arch, load_mapping(ROOT / "specs/examples/conv-small-mapping-nnd-4x4.yaml", problem, arch))
    assert r.noc["NoC"]["energy_pj"] > 0 and f"cpmap: {r.energy_pj:,.2f} pJ" in proc.stdout  # hops included

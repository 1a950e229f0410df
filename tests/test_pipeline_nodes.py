"""Temporal pipelining on a node array (docs/pipeline.md, "On a node array"): the
intermediates stay in the per-node buffers, each node its share, and every move between
two layers' partitions is priced over the mesh.  The segment ILP against brute force over
every segmentation and variant (layer optima by exhaustive enumeration, moves by a
literal walk of both nests), and the network bound never above it."""

from __future__ import annotations

import dataclasses
import itertools

import pytest
from solvekit import tiny_spec
from test_redistribute import literal_exchange
from test_residency_nodes import enumerated, node_arch

from cpmap.core.pipeline import PipelineOptions
from cpmap.core.residency import with_resident
from cpmap.network.pipeline import run_pipeline
from cpmap.network.segments import buffer_level, variants
from cpmap.spec.arch import arch_to_obj
from cpmap.spec.solve import load_solve_spec

# c1 -> c2 -> f1, a chain: every run of consecutive layers is a segment
NET = {"workload": {"name": "chain", "batch": 2, "inputs": ["x"], "layers": [
    {"name": "c1", "type": "conv", "K": 2, "C": 1, "P": 2, "Q": 1, "R": 1},
    {"name": "c2", "type": "conv", "K": 2, "C": 2, "P": 2, "Q": 1, "R": 1},
    {"name": "f1", "type": "fc", "K": 2, "C": 4},
]}}
ARCH = node_arch(rows=2, cols=1, gb=10)


@pytest.fixture(scope="module")
def plan(tmp_path_factory):
    d = tmp_path_factory.mktemp("pipe-nodes")
    return load_solve_spec(tiny_spec(d, arch=arch_to_obj(ARCH), workload=NET, workers=1))


@pytest.fixture(scope="module")
def run(plan):
    return run_pipeline(plan, PipelineOptions("temporal", 3, None, (1, 2)), jobs=1)


def test_the_per_node_buffer_holds_the_intermediates(plan):
    assert buffer_level(plan.arch) == "GB"  # below the mesh: 2 instances
    vs = {(v.layers, v.groups) for v in variants(plan.layers, plan.arch, 3, (1, 2))}
    assert (("c1", "c2", "f1"), 2) in vs and (("c2", "f1"), 1) in vs


def brute_force(plan, result):
    """Least energy over every segmentation and group count: each layer's optimum by
    exhaustive enumeration, each move by a literal walk of the two mappings the run chose
    for that (segment, groups) -- so this checks the ILP's choice and the pricing, not
    the layer solves' tie-breaking."""
    names = [lay.name for lay in plan.layers]
    probs = {lay.name: lay.problem for lay in plan.layers}
    chosen = {(c.variant.layers, c.variant.groups): c for c in result.candidates}
    hop = ARCH.levels[2].fanout
    gb = ARCH.levels[1]
    best = None
    for cuts in itertools.product((0, 1), repeat=len(names) - 1):
        segs, cur = [], [names[0]]
        for n, cut in zip(names[1:], cuts):
            if cut:
                segs.append(tuple(cur))
                cur = []
            cur.append(n)
        segs.append(tuple(cur))
        for gs in itertools.product(*[(1,) if len(s) == 1 else (1, 2) for s in segs]):
            total = 0.0
            for seg, g in zip(segs, gs):
                ps = []
                for k, n in enumerate(seg):
                    p = probs[n]
                    if g > 1:
                        p = dataclasses.replace(p, sizes=tuple(s // g if d == "N" else s
                                                               for d, s in zip(p.dims, p.sizes)))
                    res = ({"I": "GB"} if k > 0 else {}) | ({"O": "GB"} if k < len(seg) - 1 else {})
                    ps.append(with_resident(p, res))
                total += g * sum(enumerated(p, ARCH)[0] for p in ps)
                cand = chosen[seg, g]
                maps = [s.best.mapping for s in cand.solutions]
                for a, b, ma, mb in zip(ps, ps[1:], maps, maps[1:]):
                    hops, reads, writes = literal_exchange(a, ma, b, mb, ARCH)
                    total += g * (hops * hop.hop_energy_pj + reads * gb.read_pj
                                  + writes * (gb.write_pj + hop.energy_pj))
            best = total if best is None else min(best, total)
    return best


def test_ilp_energy_equals_brute_force_on_nodes(plan, run):
    want = brute_force(plan, run)
    assert run.energy_pj == pytest.approx(want, rel=1e-12)
    assert run.bound <= want * (1 + 1e-12)
    assert run.energy_pj < run.baseline_energy_pj  # pipelining pays on this net
    # the candidates price their moves: some multi-layer one moves data between nodes
    assert any(c.exchange_pj > 0 for c in run.candidates if len(c.variant.layers) > 1)


def test_cli_reports_node_shares_and_moves(tmp_path, capsys):
    import json

    from cpmap.cli import main

    spec = tiny_spec(tmp_path, arch=arch_to_obj(ARCH), workload=NET, workers=1,
                     pipeline={"mode": "temporal", "max_degree": 3, "batch_groups": [1, 2]})
    assert main(["solve", str(spec), "--json", "-q", "--jobs", "1"]) == 0
    data = json.loads(capsys.readouterr().out)
    segs, t = data["segments"], data["total"]
    assert [n for s in segs for n in s["layers"]] == ["c1", "c2", "f1"]
    assert any(s["intermediates"] for s in segs)  # a multi-layer segment is chosen
    # a segment's energy is its layers' (times the groups) plus its moves between nodes
    for s in segs:
        layers = s["groups"] * sum(lay["energy_pj"] for lay in s["layer_results"])
        assert s["energy_pj"] == pytest.approx(layers + s["exchange_pj"])
        assert all(i["level"] == "GB" and i["instances"] == 2 for i in s["intermediates"])
    assert t["lower_bound"] <= t["energy_pj"] * (1 + 1e-12)
    assert main(["solve", str(spec), "-q", "--jobs", "1"]) == 0
    assert "moves pJ" in capsys.readouterr().out

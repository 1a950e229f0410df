"""Spatial pipelining on a node array (docs/pipeline.md, "Spatial variants"): the layers
of a segment on disjoint bands of the mesh, intermediates forwarded from region to
region.  The segment ILP in spatial and both modes against brute force over every
segmentation x variant (temporal, or a band split) x group count -- each layer's optimum
by exhaustive enumeration on its region, each move by a literal walk of the two nests --
for energy and delay, and the network bound never above the optimum."""

from __future__ import annotations

import dataclasses
import itertools
import json

import pytest
from solvekit import tiny_spec
from test_redistribute import literal_exchange
from test_residency_nodes import enumerated, node_arch

from cpmap.core.pipeline import PipelineOptions
from cpmap.core.region import Region, bands, on_region
from cpmap.core.residency import with_resident
from cpmap.network.cache import Cache
from cpmap.network.pipeline import run_pipeline
from cpmap.network.segments import variants
from cpmap.spec.arch import arch_to_obj
from cpmap.spec.solve import load_solve_spec

# c1 -> c2 -> f1, a chain: every run of consecutive layers is a segment
NET = {"workload": {"name": "chain", "batch": 2, "inputs": ["x"], "layers": [
    {"name": "c1", "type": "conv", "K": 2, "C": 1, "P": 2, "Q": 1, "R": 1},
    {"name": "c2", "type": "conv", "K": 2, "C": 2, "P": 2, "Q": 1, "R": 1},
    {"name": "f1", "type": "fc", "K": 2, "C": 4},
]}}
ARCH = node_arch(rows=1, cols=3, gb=10)  # a 1x3 row of nodes, DRAM channels at (0,0) and (0,2)
GROUPS = (1, 2)


@pytest.fixture(scope="module")
def plan(tmp_path_factory):
    d = tmp_path_factory.mktemp("pipe-spatial")
    return load_solve_spec(tiny_spec(d, arch=arch_to_obj(ARCH), workload=NET, workers=1))


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return Cache(tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="module")
def runs(plan, cache):
    out = {}
    for objective in ("energy", "delay"):
        p = dataclasses.replace(plan, objective=objective)
        for mode in ("both", "spatial"):  # spatial's problems are a subset of both's: cached
            out[mode, objective] = run_pipeline(p, PipelineOptions(mode, 3, None, GROUPS), jobs=1, cache=cache)
    return out


def test_spatial_variants_are_band_splits(plan):
    vs = variants(plan.layers, plan.arch, 3, GROUPS, mode="spatial")
    spatial = {(v.layers, v.groups, v.regions) for v in vs if v.spatial}
    # a 1x3 row: 2 layers on 1+2 or 2+1 columns, 3 layers on one column each
    assert (("c1", "c2"), 1, (Region(0, 0, 1, 1), Region(0, 1, 1, 2))) in spatial
    assert (("c1", "c2", "f1"), 2, (Region(0, 0, 1, 1), Region(0, 1, 1, 1), Region(0, 2, 1, 1))) in spatial
    # groups x (c1+c2, c2+f1, c1+c2+f1) but one: in 1 group, c2 alone on node (0,1) would
    # hold its whole I (N 2 x C 2 x P 2 = 8 words) and O (8): 16 > the GB's 10 words
    assert len(spatial) == 2 * (2 + 2 + 1) - 1
    assert (("c1", "c2", "f1"), 1, (Region(0, 0, 1, 1), Region(0, 1, 1, 1), Region(0, 2, 1, 1))) not in spatial
    assert not any(v.buffer and not v.spatial for v in vs)  # spatial mode lists no temporal variant
    both = variants(plan.layers, plan.arch, 3, GROUPS, mode="both")
    # plus a temporal variant per multi-layer segment and group count (on 3 nodes each
    # holds a third or more: c2 holds 8 / 3 -> 3 + 3 words at least)
    assert len(both) == len(vs) + 2 * 3


def test_spatial_refuses_what_it_does_not_model(plan):
    from cpmap.core.errors import CpmapError

    static = dataclasses.replace(ARCH, static_pj_per_cycle=1.0)
    with pytest.raises(CpmapError, match=r"^run.yaml: solve.pipeline.mode: .*static energy"):
        variants(plan.layers, static, 3, GROUPS, "run.yaml: solve.pipeline.mode", "both")
    # the temporal mode on the same architecture is not affected
    assert variants(plan.layers, static, 3, GROUPS, "run.yaml: solve.pipeline.mode", "temporal")


def _segmentations(names):
    for cuts in itertools.product((0, 1), repeat=len(names) - 1):
        segs, cur = [], [names[0]]
        for n, cut in zip(names[1:], cuts):
            if cut:
                segs.append(tuple(cur))
                cur = []
            cur.append(n)
        segs.append(tuple(cur))
        yield segs


def _ways(seg, mode):
    """(groups, regions or None) of a segment: alone, or per group count temporal and/or
    on every band split of the 1x3 mesh."""
    if len(seg) == 1:
        return [(1, None)]
    out = []
    for g in GROUPS:
        if mode in ("temporal", "both"):
            out.append((g, None))
        if mode in ("spatial", "both"):
            out += [(g, regs) for regs in bands((1, 3), len(seg))]
    return out


_OPTIMA: dict = {}
"""{(problem, arch): (least energy, least cycles)} by enumeration, shared by the four runs
(the same layer problems recur: spatial's are a subset of both's)."""


def brute_force(plan, result, mode, objective):
    """Least energy or delay over every segmentation x variant x group count: each layer's
    optimum by exhaustive enumeration on its region (on the whole mesh when temporal or
    alone), each move by a literal walk of the two mappings the run chose for that
    candidate (so this checks the ILP's choice and the pricing, not tie-breaking)."""
    probs = {lay.name: lay.problem for lay in plan.layers}
    chosen = {(c.variant.layers, c.variant.groups, c.variant.regions): c for c in result.candidates}
    hop, gb = ARCH.levels[2].fanout, ARCH.levels[1]
    memo = _OPTIMA
    best = None
    for segs in _segmentations([lay.name for lay in plan.layers]):
        for ways in itertools.product(*(_ways(s, mode) for s in segs)):
            total = 0.0
            for seg, (g, regs) in zip(segs, ways):
                archs = [ARCH if regs is None else on_region(ARCH, r) for r in (regs or seg)]
                ps = []
                for k, n in enumerate(seg):
                    p = probs[n]
                    if g > 1:
                        p = dataclasses.replace(p, sizes=tuple(s // g if d == "N" else s
                                                               for d, s in zip(p.dims, p.sizes)))
                    res = ({"I": "GB"} if k > 0 else {}) | ({"O": "GB"} if k < len(seg) - 1 else {})
                    ps.append(with_resident(p, res))
                for p, a in zip(ps, archs):
                    if (p, a) not in memo:
                        memo[p, a] = enumerated(p, a)
                opt = [memo[p, a] for p, a in zip(ps, archs)]
                if any(e is None for e, _ in opt):
                    break  # no mapping: the variant does not exist
                if objective == "delay":
                    stages = [c for _, c in opt]
                    total += sum(stages) + (g - 1) * max(stages) if regs else g * sum(stages)
                    continue
                total += g * sum(e for e, _ in opt)
                cand = chosen[seg, g, regs]
                maps = [s.best.mapping for s in cand.solutions]
                for k in range(len(seg) - 1):
                    hops, reads, writes = literal_exchange(ps[k], maps[k], ps[k + 1], maps[k + 1], archs[k],
                                                           archs[k + 1])
                    total += g * (hops * hop.hop_energy_pj + reads * gb.read_pj
                                  + writes * (gb.write_pj + hop.energy_pj))
            else:
                best = total if best is None else min(best, total)
    return best


@pytest.mark.parametrize("objective", ["energy", "delay"])
@pytest.mark.parametrize("mode", ["spatial", "both"])
def test_ilp_equals_brute_force(plan, runs, mode, objective):
    r = runs[mode, objective]
    want = brute_force(plan, r, mode, objective)
    assert r.value == pytest.approx(want, rel=1e-12)
    assert r.bound <= want * (1 + 1e-12)
    if objective == "energy":
        assert r.energy_pj < r.baseline_energy_pj  # pipelining pays on this net


def test_spatial_candidates_price_moves_and_bound_them(runs):
    r = runs["both", "energy"]
    spatial = [c for c in r.candidates if c.variant.spatial and c.value is not None]
    assert spatial and all(c.exchange_pj > 0 for c in spatial)  # disjoint regions: every word moves
    for c in spatial:  # the bound counts the move floor, never above the move itself
        lay_bounds = c.variant.groups * sum(s.lower_bound for s in c.solutions)
        assert lay_bounds < c.bound <= c.value * (1 + 1e-12)
    # the delay of a spatial candidate: one group through every stage, then the slowest per group
    d = runs["both", "delay"]
    for c in (c for c in d.candidates if c.variant.spatial and c.cycles is not None):
        stages = [s.best.result.cycles for s in c.solutions]
        assert c.cycles == sum(stages) + (c.variant.groups - 1) * max(stages)


def test_cli_reports_regions_and_intermediates(tmp_path, capsys, monkeypatch):
    from cpmap.cli import main

    monkeypatch.setenv("CPMAP_CACHE", str(tmp_path / "cache"))
    spec = tiny_spec(tmp_path, arch=arch_to_obj(ARCH), workload=NET, workers=1,
                     pipeline={"mode": "spatial", "max_degree": 3, "batch_groups": [1, 2]})
    assert main(["solve", str(spec), "--json", "-q", "--jobs", "1"]) == 0
    data = json.loads(capsys.readouterr().out)
    segs = data["segments"]
    assert [n for s in segs for n in s["layers"]] == ["c1", "c2", "f1"]
    multi = [s for s in segs if len(s["layers"]) > 1]
    assert multi and all(s["kind"] == "spatial" for s in multi)
    for s in multi:
        regs = [Region(**r) for r in s["regions"]]
        assert len(regs) == len(s["layers"]) and not any(a.overlaps(b) for a, b in itertools.combinations(regs, 2))
        for i, (a, b) in zip(s["intermediates"], zip(regs, regs[1:])):
            assert i["level"] == "GB" and i["from_region"] == dataclasses.asdict(a)
            assert i["to_region"] == dataclasses.asdict(b)
    assert main(["solve", str(spec), "-q", "--jobs", "1"]) == 0
    out = capsys.readouterr().out
    assert "regions" in out and "(0,0) 1x" in out

"""The Timeloop-compatible counting mode (``evaluate(..., compat="timeloop")``, `cpmap
evaluate --compat timeloop`; docs/cost-model.md section 8) against the oracle's Timeloop
rules (tests/oracle.py: ``tiles="bbox"``, ``readback="multicast"``): hand-counted cases for
each rule, and a property test over 2,100 random layers, hierarchies and mappings."""

from __future__ import annotations

import json
import random

import pytest
from hypothesis import HealthCheck, given, settings
from oracle import compare, simulate
from strategies import FAMILIES, RandomChooser, cases, gen_case

from cpmap.cli import main
from cpmap.core.arch import Arch, Fanout, Level
from cpmap.core.mapping import LevelMapping, Mapping
from cpmap.core.problem import conv, fc
from cpmap.cost.evaluator import evaluate

PROPERTY = settings(max_examples=350, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
TIMELOOP = {"readback": "multicast", "tiles": "bbox"}


def lm(level, temporal=(), keeps="", spatial=()):
    return LevelMapping(level, tuple(temporal), frozenset(keeps), tuple(spatial))


def both(problem, arch, mapping):
    """(default result, compat result), each checked against its oracle."""
    out = []
    for compat, rules in ((None, {}), ("timeloop", TIMELOOP)):
        result = evaluate(problem, arch, mapping, compat=compat)
        oracle = simulate(problem, arch, mapping, **rules)
        assert not compare(result, oracle, arch, problem), compare(result, oracle, arch, problem)
        out.append(result)
    return out


def test_rule_a_bounding_box_input_tiles():
    # 1x1 conv, stride 2, P = 4 output rows: they read input rows 0, 2, 4, 6.  cpmap's tile
    # holds those 4 rows; Timeloop's bounding box spans rows 0..6 = 7.  RF: capacity 10.
    p = conv("s2", K=1, C=1, P=4, Q=1, stride=2)
    arch = Arch("a", 16, 1.0, (Level("RF", frozenset("WIO"), 1.0, 1.0, capacity=10),
                               Level("DRAM", frozenset("WIO"), 100.0, 100.0)))
    m = Mapping((lm("RF", [("P", 4)], "WIO"), lm("DRAM", [], "WIO")))
    ours, tl = both(p, arch, m)
    assert ours.tiles["RF"]["I"] == 4 and tl.tiles["RF"]["I"] == 7
    assert ours.accesses["DRAM"]["I"]["reads"] == 4 and tl.accesses["DRAM"]["I"]["reads"] == 7
    assert ours.accesses["RF"]["I"]["writes"] == 4 and tl.accesses["RF"]["I"]["writes"] == 7
    # capacity: W 1 + I + O 4 = 9 fits 10 words; with the box, 1 + 7 + 4 = 12 does not
    assert ours.valid and not tl.valid and "over by 2" in tl.errors[0]
    assert ours.accesses["RF"]["I"]["reads"] == tl.accesses["RF"]["I"]["reads"] == 4  # one per MAC


def test_rule_b_read_back_reaches_every_child_of_the_reduction_group():
    # fc O[k] += W[k,c] I[c], K=2, C=4; DRAM loops c2 (outer), k2; C2 unrolled over 2 PEs
    # with reduction; the PE level L0 keeps O only.  Each PE sees (c0,k0), (c0,k1) fresh and
    # re-enters (c1,k0), (c1,k1).  cpmap: the psum goes to PE0 only (tests/test_oracle.py:
    # L0.O writes 8 updates + 2, reads 2).  Timeloop: both PEs get it: writes 8 + 2 x 2 = 12,
    # and each PE reads it at its first update: reads 4.  DRAM reads each psum once (2), and
    # the array network carries the read-backs to both PEs: 26 - 2 + 4 = 28 words.
    p = fc("fc", N=1, K=2, C=4)
    arch = Arch("red", 16, 1.0, (
        Level("L0", frozenset("O"), 1.0, 1.0, capacity=8),
        Level("DRAM", frozenset("WIO"), 1.0, 1.0, fanout=Fanout("F", (("x", 2),), energy_pj=1.0))))
    m = Mapping((lm("L0", [], "O"), lm("DRAM", [("C", 2), ("K", 2)], "WIO", [("x", (("C", 2),))])))
    ours, tl = both(p, arch, m)
    assert ours.accesses["L0"]["O"] == {"reads": 2, "writes": 10}
    assert tl.accesses["L0"]["O"] == {"reads": 4, "writes": 12}
    assert ours.accesses["DRAM"]["O"] == tl.accesses["DRAM"]["O"] == {"reads": 2, "writes": 4}
    assert ours.network_words == {"F": 26} and tl.network_words == {"F": 28}


def test_both_tools_charge_a_drain_as_an_update_with_no_read_at_the_child():
    # the same layer without re-entry (k outer): every O element is drained once to DRAM
    # (4 writes) and the PE level is read only by the MAC updates that follow a first one
    p = fc("fc", N=1, K=2, C=4)
    arch = Arch("red", 16, 1.0, (
        Level("L0", frozenset("O"), 1.0, 1.0, capacity=8),
        Level("DRAM", frozenset("WIO"), 1.0, 1.0, fanout=Fanout("F", (("x", 2),)))))
    m = Mapping((lm("L0", [("C", 2)], "O"), lm("DRAM", [("K", 2)], "WIO", [("x", (("C", 2),))])))
    ours, tl = both(p, arch, m)
    for r in (ours, tl):
        assert r.accesses["DRAM"]["O"] == {"reads": 0, "writes": 2}  # 2 outputs, reduced over the 2 PEs
        assert r.accesses["L0"]["O"] == {"reads": 4, "writes": 8}    # 8 updates, 4 first touches


@pytest.mark.parametrize("family", FAMILIES)
def test_compat_evaluator_matches_the_oracle_in_timeloop_mode(family):
    @PROPERTY
    @given(cases(family))
    def check(case):
        problem, arch, mapping = case
        oracle = simulate(problem, arch, mapping, **TIMELOOP)
        diffs = compare(evaluate(problem, arch, mapping, compat="timeloop"), oracle, arch, problem)
        assert not diffs, "\n".join(diffs) + f"\n{problem!r}\n{arch!r}\n{mapping!r}"

    check()


def test_the_modes_differ_often_enough_for_the_property_test_to_mean_something():
    rng = random.Random(7)
    differ = 0
    for n in range(300):
        p, a, m = gen_case(RandomChooser(rng), FAMILIES[n % len(FAMILIES)])
        differ += evaluate(p, a, m) != evaluate(p, a, m, compat="timeloop")
    assert differ >= 60, differ


def test_cli_compat_flag(tmp_path, capsys):
    (tmp_path / "a.yaml").write_text(
        "architecture: {name: a, word_bits: 16, mac_energy_pj: 1, levels: [{name: RF, capacity: 10, keeps: [W, I, O],"
        " read_energy_pj: 1, write_energy_pj: 1}, {name: DRAM, keeps: [W, I, O], read_energy_pj: 100,"
        " write_energy_pj: 100}]}\n")
    (tmp_path / "w.yaml").write_text("workload: {name: w, layers: [{name: s2, type: conv, K: 1, C: 1, P: 4, Q: 1,"
                                     " stride: 2}]}\n")
    (tmp_path / "m.yaml").write_text("mapping: [{level: DRAM, keeps: [W, I, O]}, {level: RF, keeps: [W, I, O],"
                                     " temporal: {P: 4}}]\n")
    files = ["--arch", str(tmp_path / "a.yaml"), "--workload", str(tmp_path / "w.yaml"),
             "--mapping", str(tmp_path / "m.yaml"), "--json"]
    assert main(["evaluate", *files]) == 0
    assert json.loads(capsys.readouterr().out)["tiles"]["RF"]["I"] == 4
    assert main(["evaluate", *files, "--compat", "timeloop"]) == 1  # the box overflows the RF
    result = json.loads(capsys.readouterr().out)
    assert result["tiles"]["RF"]["I"] == 7 and "over by 2" in result["errors"][0]
    assert main(["evaluate", *files, "--compat", "zigzag"]) == 2
    assert "invalid choice" in capsys.readouterr().err

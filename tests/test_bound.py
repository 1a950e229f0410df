"""`cpmap bound`: the compulsory-traffic floor (counted by hand; below every mapping's
evaluated energy and cycles), the certified bounds beside it, claims judged against them,
and the claim file's errors."""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from strategies import FAMILIES, cases
from test_residency import resident_cases

from cpmap.cli import main
from cpmap.core.arch import Arch, Level
from cpmap.core.errors import SpecError
from cpmap.core.problem import conv, fc
from cpmap.core.residency import with_resident
from cpmap.cost.evaluator import evaluate
from cpmap.cost.floor import compulsory_floor
from cpmap.network.bound import judge
from cpmap.spec.claims import read_claims

PROPERTY = settings(max_examples=100, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
RESIDENT_PROPERTY = settings(PROPERTY, max_examples=350)


def test_floor_by_hand():
    # fc N=2, K=3, C=4: 24 MACs at 1 pJ; W 12 + I 8 words read from DRAM at 100 pJ, O 6
    # written at 120 pJ: 24 + 2,000 + 720 = 2,744 pJ.  A 1-PE machine: 24 cycles.
    arch = Arch("a", 16, 1.0, (Level("RF", frozenset("WIO"), 1.0, 1.0, capacity=64),
                               Level("DRAM", frozenset("WIO"), 100.0, 120.0)))
    f = compulsory_floor(fc("fc", N=2, K=3, C=4), arch)
    assert (f.energy_pj, f.dram_words, f.cycles) == (2_744.0, 26, 24)
    # a strided 1x1 conv reads only the rows it uses: 4 of the 7 (cost-model section 2)
    f = compulsory_floor(conv("s2", K=1, C=1, P=4, Q=1, stride=2), arch)
    assert f.dram_words == 1 + 4 + 4


@pytest.mark.parametrize("family", FAMILIES)
def test_floor_is_below_every_mapping(family):
    @PROPERTY
    @given(cases(family))
    def check(case):
        problem, arch, mapping = case
        r, f = evaluate(problem, arch, mapping), compulsory_floor(problem, arch)
        assert f.energy_pj <= r.energy_pj * (1 + 1e-12)
        assert f.cycles <= r.cycles
        top = arch.levels[-1].name
        moved = sum(r.accesses[top][t]["reads"] for t in problem.tensor_names if t != "O")
        assert moved >= f.dram_words - problem.tensor_words("O")
        assert r.accesses[top]["O"]["writes"] >= problem.tensor_words("O")

    check()


def test_judge():
    v = judge(90.0, 100.0)
    assert v.impossible and math.isclose(v.margin, 0.10)
    assert judge(100.0, 100.0).impossible is False
    assert judge(None, 100.0).impossible is None and judge(5.0, None).impossible is None


def test_claim_file_errors(tmp_path):
    f = tmp_path / "c.csv"
    for text, want in (("layer,joules\nfc,1\n", "expected a header naming layer"),
                       ("layer,energy_pj\nnope,1\n", "expected a layer of the workload or 'network', got 'nope'"),
                       ("layer,energy_pj\nfc,-3\n", "line 2.energy_pj: expected a number >= 0, got '-3'"),
                       ("layer,energy_pj\nfc,1\nfc,2\n", "expected each layer once"), ("", "header row")):
        f.write_text(text)
        with pytest.raises(SpecError, match=want):
            read_claims(str(f), ("fc",))
    f.write_text("layer,energy_pj,cycles\nfc,1e6,\nnetwork,,40\n")
    claims = read_claims(str(f), ("fc",))
    assert claims["fc"].energy_pj == 1e6 and claims["fc"].cycles is None and claims["network"].cycles == 40


def test_cli_bound_refutes_a_claim_below_the_bound(tmp_path, capsys):
    (tmp_path / "a.yaml").write_text(
        "architecture: {name: a, word_bits: 16, mac_energy_pj: 1, levels: [{name: RF, capacity: 64, keeps: [W, I, O],"
        " read_energy_pj: 1, write_energy_pj: 1}, {name: DRAM, keeps: [W, I, O], read_energy_pj: 100,"
        " write_energy_pj: 120}]}\n")
    (tmp_path / "w.yaml").write_text("workload: {name: w, layers: [{name: fc, type: fc, N: 2, K: 3, C: 4}]}\n")
    (tmp_path / "s.yaml").write_text("solve: {arch: a.yaml, workload: w.yaml, time_limit: 5}\n")
    (tmp_path / "c.csv").write_text("layer,energy_pj,cycles\nfc,2700,\nnetwork,,30\n")
    argv = ["bound", str(tmp_path / "s.yaml"), "--claim", str(tmp_path / "c.csv"), "--no-cache", "--json"]
    assert main(argv) == 1
    import json
    data = json.loads(capsys.readouterr().out)
    layer = data["layers"][0]
    # the floor (2,744 pJ) is already above the 2,700 pJ claim, and the bound is above the floor
    assert layer["floor"]["energy_pj"] == 2_744.0 and layer["energy"]["lower_bound_pj"] >= 2_744.0
    assert layer["energy"]["status"] == "OPTIMAL" and layer["energy"]["claim"]["impossible"] is True
    assert data["network"]["cycles"]["claim"]["impossible"] is False  # 30 >= the 24-cycle bound
    assert main(["bound", str(tmp_path / "s.yaml"), "--claim", str(tmp_path / "missing.csv")]) == 2
    assert "cannot read file" in capsys.readouterr().err


def test_floor_leaves_resident_tensors_out():
    # the fc of test_floor_by_hand with I resident in RF: 24 MACs + W 12 words read at 100 pJ
    # + O 6 written at 120 pJ = 24 + 1,200 + 720 = 1,944 pJ; with O resident too: 1,224 pJ
    arch = Arch("a", 16, 1.0, (Level("RF", frozenset("WIO"), 1.0, 1.0, capacity=64),
                               Level("DRAM", frozenset("WIO"), 100.0, 120.0)))
    f = compulsory_floor(with_resident(fc("fc", N=2, K=3, C=4), {"I": "RF"}), arch)
    assert (f.energy_pj, f.dram_words, f.cycles) == (1_944.0, 18, 24)
    f = compulsory_floor(with_resident(fc("fc", N=2, K=3, C=4), {"I": "RF", "O": "RF"}), arch)
    assert (f.energy_pj, f.dram_words) == (1_224.0, 12)


@pytest.mark.parametrize("family", FAMILIES)
def test_floor_is_below_every_mapping_with_residency(family):
    # 6 families x 350 derandomized cases = 2,100 resident problems (I, O or both on chip)
    @RESIDENT_PROPERTY
    @given(resident_cases(family))
    def check(case):
        problem, arch, mapping = case
        r, f = evaluate(problem, arch, mapping), compulsory_floor(problem, arch)
        assert f.energy_pj <= r.energy_pj * (1 + 1e-12)
        assert f.cycles <= r.cycles
        top = arch.levels[-1].name
        on_chip = {t for t, _ in problem.resident}
        moved = sum(r.accesses[top][t]["reads"] + r.accesses[top][t]["writes"] for t in problem.tensor_names
                    if t not in on_chip)
        assert moved >= f.dram_words

    check()

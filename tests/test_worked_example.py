"""docs/cost-model.md section 7: every number there was counted by hand.  Both the scalar
evaluator and the batch path (cpmap/cost/batch.py) must reproduce them."""

import pytest
from batchkit import as_result_dict, mapping_arrays

from cpmap.core.arch import Arch, Fanout, Level
from cpmap.core.mapping import LevelMapping, Mapping
from cpmap.core.problem import conv
from cpmap.cost.batch import BatchEvaluator
from cpmap.cost.evaluator import evaluate

PROBLEM = conv("example", K=4, C=2, P=4, Q=1, R=3, S=1)
ARCH = Arch("example", 16, 1.0, (
    Level("RF", frozenset("WIO"), 1.0, 1.0, capacity=64),
    Level("GB", frozenset("WIO"), 6.0, 6.0, capacity=4096,
          fanout=Fanout("PE", (("X", 4),), True, True, 2.0)),
    Level("DRAM", frozenset("WIO"), 200.0, 200.0),
))
MAPPING = Mapping((
    LevelMapping("RF", (("R", 3), ("C", 2)), frozenset("WIO")),
    LevelMapping("GB", (("P", 4),), frozenset("WIO"), (("X", (("K", 4),)),)),
    LevelMapping("DRAM", (), frozenset("WIO")),
))


def scalar():
    return evaluate(PROBLEM, ARCH, MAPPING).to_json()


def batch():
    arrays = mapping_arrays(PROBLEM, ARCH, [MAPPING])
    return as_result_dict(PROBLEM, ARCH, BatchEvaluator(PROBLEM, ARCH).evaluate(*arrays), arrays[2], 0)


@pytest.mark.parametrize("evaluator", [scalar, batch])
def test_worked_example_matches_hand_count(evaluator):
    r = evaluator()
    hand = {
        "RF": {"W": (96, 24), "I": (96, 96), "O": (80, 96)},
        "GB": {"W": (24, 24), "I": (24, 12), "O": (0, 16)},
        "DRAM": {"W": (24, 0), "I": (12, 0), "O": (0, 16)},
    }
    for level, per_tensor in hand.items():
        for t, (reads, writes) in per_tensor.items():
            assert r["accesses"][level][t] == {"reads": reads, "writes": writes}, (level, t)
    assert r["tiles"]["RF"] == {"W": 6, "I": 6, "O": 1}
    assert r["tiles"]["GB"] == {"W": 24, "I": 12, "O": 16}
    assert r["network_words"] == {"PE": 136}
    assert r["energy_pj"] == 11856.0
    assert (r["compute_cycles"], r["cycles"], r["utilization"]) == (24, 24, 1.0)
    assert r["valid"]


def test_worked_example_macs():
    assert evaluate(PROBLEM, ARCH, MAPPING).macs == 96

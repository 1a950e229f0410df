"""Bandwidth-limited cycles: exact in the evaluator (decimal bandwidths divided as
fractions), and in the CP-SAT model, whose delay and edp objectives are the evaluator's
cycles (compute cycles or the slowest level's reads or writes over its bandwidth), checked
against exhaustive enumeration on tiny layers with finite bandwidths on every level."""

from __future__ import annotations

import numpy as np
from oracle import simulate

from cpmap.core.arch import Arch, Level
from cpmap.core.mapping import LevelMapping, Mapping
from cpmap.core.problem import fc
from cpmap.cost.batch import bandwidth_cycles_array
from cpmap.cost.evaluator import evaluate


def test_decimal_bandwidths_divide_exactly():
    """fc C=21 on RF + DRAM, everything at the RF: DRAM reads W 21 + I 21 = 42 words at
    0.7 words/cycle = 60 cycles exactly (float division gives 60.00000000000001, whose
    ceiling was 61); DRAM writes O once: ceil(1 / 0.7) = 2; compute 21 cycles."""
    p = fc("f", N=1, K=1, C=21)
    arch = Arch("a", 16, 1.0, (Level("RF", frozenset("WIO"), 1.0, 1.0, capacity=64),
                               Level("DRAM", frozenset("WIO"), 9.0, 9.0, read_bandwidth=0.7, write_bandwidth=0.7)))
    m = Mapping((LevelMapping("RF", (("C", 21),), frozenset("WIO")), LevelMapping("DRAM", (), frozenset("WIO"))))
    r = evaluate(p, arch, m)
    assert r.compute_cycles == 21 and r.accesses["DRAM"]["W"]["reads"] + r.accesses["DRAM"]["I"]["reads"] == 42
    assert r.cycles == 60 == simulate(p, arch, m).cycles
    # the batch path, in int64 and (500 words x 10^16 > 2^62) in Python integers: 42 words
    # over 2 and 3 instances at 0.7 -> 30 and 20; 500 words at 1/3 written as
    # 0.3333333333333333 (slightly below 1/3) -> 1500.00000000000015, i.e. 1501
    words, used = np.array([42, 42]), np.array([2, 3])
    assert bandwidth_cycles_array(words, used, 0.7).tolist() == [30, 20]
    assert bandwidth_cycles_array(np.array([500, 6]), np.array([1, 2]), 1 / 3).tolist() == [1501, 10]

"""Prime tables (cpmap/solve/kit.py, ModelKit.term with ``prime_tables``): one table per
monomial from its per-prime exponent sums to its value, the one-worker encoding
(cpmap/solve/tuning.py model_encoding).

Checked at three sizes: a monomial's value against the product computed here and against
the per-dim encoding in the same model, on random exponent assignments; a pinned mapping's
model optimum under both encodings on random layers and hierarchies (windows included);
and the whole model's optimum against exhaustive enumeration (test_dominance and
test_solver solve with one worker, i.e. with this encoding).
"""

from __future__ import annotations

import itertools
import random
from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st
from ortools.sat.python import cp_model
from solvekit import pinned_optimum
from strategies import DrawChooser, gen_arch, gen_mapping, gen_problem
from test_dominance import ARCH
from test_loop_order import pin

from cpmap.core.problem import gemm
from cpmap.solve import kit as kit_mod
from cpmap.solve.kit import ModelKit
from cpmap.solve.model import build_model
from cpmap.solve.monomial import Mono
from cpmap.solve.tuning import model_encoding

SIZES = (1, 2, 3, 4, 6, 8, 9, 12, 14, 18, 20, 30, 36, 42, 56, 60)
SLOTS = 3  # exponent atoms per (dim, prime), standing for a level's loops or a fanout axis


@settings(max_examples=2000, derandomize=True, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_a_monomial_has_the_same_value_in_both_encodings(seed):
    """Random dims (sizes with primes 2, 3, 5, 7), each prime's exponent split over three
    slots, a random product of slots (some whole dims, which fold into the constant) and a
    random split fixed: the prime table, the per-dim tables' product and the product
    computed here agree.  (One drawn seed drives the case: ~40 hypothesis draws per case
    took 15 ms, ten times the solve.)"""
    rng = random.Random(seed)
    problem = gemm("g", **{d: rng.choice(SIZES) for d in "BMNK"})
    kit = ModelKit(problem)
    mono, expected, fixed = Mono(), 1, []  # a count never exceeds the MACs: no constant above
    for d in problem.dims:
        for p, k in kit.primes[d].items():
            atoms = [("e", d, p, s) for s in range(SLOTS)]
            for a in atoms:
                kit.atoms[a] = kit.m.new_int_var(0, k, f"{d}{p}{a[3]}")
            kit.m.add(sum(kit.atoms[a] for a in atoms) == k)
            kit.full[d, p] = frozenset((a, 1) for a in atoms)
            cuts = sorted(rng.randint(0, k) for _ in range(SLOTS - 1))
            values = [b - a for a, b in itertools.pairwise([0, *cuts, k])]
            fixed += [(kit.atoms[a], v) for a, v in zip(atoms, values)]
            chosen = [s for s in range(SLOTS) if rng.random() < 0.5]
            if chosen:
                mono = mono * Mono(1, {(d, p): Counter({atoms[s]: 1 for s in chosen})})
                expected *= p ** sum(values[s] for s in chosen)
    kit.prime_tables = True
    by_prime = kit.term(mono, "t")
    kit.prime_tables = False
    by_dim = kit.term(mono, "t")
    for var, v in fixed:
        kit.m.add(var == v)
    solver = cp_model.CpSolver()
    solver.parameters.num_workers, solver.parameters.cp_model_presolve = 1, False
    assert solver.solve(kit.m) == cp_model.OPTIMAL

    def value(t):
        return t.const if t.var is None else t.const * solver.value(t.var)

    assert value(by_prime) == value(by_dim) == mono.const * expected
    assert by_prime.ub >= value(by_prime)


def test_a_table_too_large_falls_back_to_the_product(monkeypatch):
    problem = gemm("g", B=8, M=9, N=25, K=49)
    monkeypatch.setattr(kit_mod, "PRIME_TABLE_ROWS", 3)
    lm = build_model(problem, ARCH, prime_tables=True, tangent_cuts=False)
    assert "int_prod" in str(lm.model.proto)
    monkeypatch.setattr(kit_mod, "PRIME_TABLE_ROWS", 4096)
    lm = build_model(problem, ARCH, prime_tables=True, tangent_cuts=False)
    assert "int_prod" not in str(lm.model.proto)


@settings(max_examples=150, derandomize=True, deadline=None)
@given(st.data())
def test_a_pinned_mapping_has_the_same_optimum_in_both_encodings(data):
    """A random mapping's factors and bypass pinned (its loop order left to the model) on
    a random layer and hierarchy: the optimum over loop orders, or infeasibility (a tile
    over a capacity), is the same with prime tables as with per-dim products."""
    c = DrawChooser(data.draw)
    problem = gen_problem(c, c.choice(("conv", "fc", "gemm", "pool")), budget=256)
    arch = gen_arch(c, max_levels=3)
    mapping = gen_mapping(c, problem, arch)
    out = []
    for encoding in ({}, model_encoding(1, "exact")):
        lm = build_model(problem, arch, break_symmetry=False, prune_dominated=False, **encoding)
        out.append(pinned_optimum(lm, mapping, pin))
    assert out[0] == out[1]

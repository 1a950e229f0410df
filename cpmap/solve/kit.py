"""The building blocks of the CP-SAT layer model: exponent tables, materialized
monomials, tangent cuts and literals.

:class:`ModelKit` owns the ``CpModel`` and memoizes what it adds, so that a monomial,
table or gated count that several access counts share enters the model once.  The layer
model (:mod:`cpmap.solve.model`) is written in terms of these blocks.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter

from ortools.sat.python import cp_model

from ..core.factors import divisors, prime_factors
from ..core.problem import Problem
from .monomial import Mono, Term, nonzero

INT64_SAFE = 2**62
"""Magnitude every coefficient, bound and constant of the model stays below (CP-SAT
rejects a model whose expressions could overflow int64)."""
CUT_SCALE = 10**4
"""Fixed-point scale of the log expressions behind the tangent cuts (logs rounded down)."""

LOG_SCALE = 10**9
"""Fixed-point scale of natural logs in log-linearized constraints.  Exact: for integer
products up to 1e6 the log of size+1 exceeds the log of size by >= 1e-6, i.e. 1000 units,
far more than the summed rounding (< 0.5 per term)."""

CUT_RATIO = 2.0
"""Tangent points of the cuts form a geometric grid with this ratio (``exact``)."""

PWL_RATIO = 1.05
"""Denser grid for ``pwl``, where the cuts are the whole objective: the envelope of
tangents at ratio r under-estimates exp by at most ~(r-1)^2/8 relative."""

PRIME_TABLE_ROWS = 4096
"""Most rows of one prime table (:meth:`ModelKit.term` with ``prime_tables``); a monomial
needing more (many distinct primes with large exponents) gets per-dim tables and a product."""


def energy_scale(values: list[float]) -> tuple[int, float]:
    """Smallest power of ten K <= 1e6 making every per-word energy an integer; if none, 1e6
    and the energies are rounded down (so the objective still under-approximates).  Returns
    (K, worst relative rounding error)."""
    for k in range(7):
        K = 10**k
        if all(abs(v * K - round(v * K)) < 1e-9 * max(1.0, abs(v * K)) for v in values):
            return K, 0.0
    K = 10**6
    err = max((v * K - math.floor(v * K)) / (v * K) for v in values if v > 0)
    return K, err


class ModelKit:
    """The model under construction and its shared building blocks (one per layer model)."""

    def __init__(self, problem: Problem):
        self.p = problem
        self.m = cp_model.CpModel()
        self.primes = {d: prime_factors(n) for d, n in zip(problem.dims, problem.sizes)}
        self.atoms: dict = {}  # atom key -> IntVar
        self.full: dict = {}  # (d, p) -> frozenset of exponent atoms summing to the dim's exponent
        self.windows: dict = {}  # window key -> (IntVar, log IntVar, upper bound)
        self._n = 0
        self._tables: dict = {}
        self._terms: dict = {}
        self._sums: dict = {}
        self._cut: set = set()
        self.tangent_cuts = True  # False: cut() adds nothing (see solve_layer's check of INFEASIBLE)
        self.prime_tables = False  # True: term() builds one table per monomial (see term())
        self._gated: dict = {}
        self.parts: dict = {}  # literal index -> ("and" | "or", literals): what conj and disj built

    def name(self, base: str) -> str:
        self._n += 1
        return f"{base}#{self._n}"

    # ---- symbolic monomials
    def mono(self, dims, slot_filter, slots) -> Mono:
        exps = {}
        for d in dims:
            for p in self.primes[d]:
                c = Counter({("e", d, p, s): 1 for s in slots if slot_filter(s) and ("e", d, p, s) in self.atoms})
                if c:
                    exps[d, p] = c
        return Mono(1, exps)

    def linear(self, counter: Counter):
        return sum(c * self.atoms[a] for a, c in sorted(counter.items(), key=repr) if c)

    def sum_var(self, d, p, counter: Counter):
        """An IntVar equal to the exponent sum (the atom itself when it is one)."""
        items = sorted(((a, c) for a, c in counter.items() if c), key=repr)
        if len(items) == 1 and items[0][1] == 1:
            return self.atoms[items[0][0]]
        key = (d, p, frozenset(items))
        if key not in self._sums:
            v = self.m.new_int_var(0, self.primes[d][p], self.name(f"sum_{d}{p}"))
            self.m.add(v == self.linear(counter))
            self._sums[key] = v
        return self._sums[key]

    def _dim_factor(self, d: str, counters: dict):
        """(IntVar or int, ub) for prod_p p^(sum of counter[p]) of dim d, via one table."""
        const, var_primes = 1, []
        for p, k in self.primes[d].items():
            items = nonzero(counters.get(p))
            if not items:
                continue
            if items == self.full.get((d, p)):
                const *= p**k
            else:
                var_primes.append((p, items))
        if not var_primes:
            return const, const
        key = (d, tuple(var_primes), const)
        if key in self._tables:
            return self._tables[key]
        sums = [self.sum_var(d, p, Counter(dict(sorted(items, key=repr)))) for p, items in var_primes]
        rows = []
        for v in divisors(math.prod(p ** self.primes[d][p] for p, _ in var_primes)):
            pf = prime_factors(v)
            rows.append([pf.get(p, 0) for p, _ in var_primes] + [v * const])
        vals = sorted({r[-1] for r in rows})
        y = self.m.new_int_var_from_domain(cp_model.Domain.from_values(vals), self.name(f"f_{d}"))
        self.m.add_allowed_assignments(sums + [y], rows)
        self._tables[key] = (y, max(vals))
        return self._tables[key]

    def log_expr(self, mono: Mono):
        """Linear lower bound of ln(mono) * CUT_SCALE (exact up to the rounding down of ln p)."""
        out = math.floor(math.log(mono.const) * CUT_SCALE) if mono.const > 1 else 0
        for (d, p), c in mono.exps.items():
            lp = math.floor(math.log(p) * CUT_SCALE)
            out += lp * self.linear(c)
        for w in mono.windows:
            out += self.windows[w][1]
        return out

    def term(self, mono: Mono, label: str) -> Term:
        """Materialize a monomial: one table per dim, then one n-ary product; or, with
        ``prime_tables``, one table from the monomial's exponent sum of each prime (over
        all its dims) to its value, times its window extents (see :meth:`_prime_term`)."""
        if self.prime_tables:
            t = self._prime_term(mono, label)
            if t is not None:
                return t
        factors, const, ub = [], mono.const, mono.const
        by_dim: dict = {}
        for (d, p), c in mono.exps.items():
            by_dim.setdefault(d, {})[p] = c
        for d in sorted(by_dim):
            f, hi = self._dim_factor(d, by_dim[d])
            if isinstance(f, int):
                const *= f
                ub *= f
            else:
                factors.append(f)
                ub *= hi
        return self._product_term(mono, factors, const, ub, ("dims", const), label)

    def _product_term(self, mono: Mono, factors: list, const: int, ub: int, kind: tuple, label: str) -> Term:
        """The term ``const`` x the product of ``factors`` (IntVars, ``ub`` the product of
        const and their upper bounds) x the monomial's window extents."""
        for w in mono.windows:
            v, _, hi = self.windows[w]
            factors.append(v)
            ub *= hi
        # every count multiplies each loop slot at most once (a window extent is at most
        # the product of its two extents), so no monomial exceeds the MAC count
        ub = min(ub, max(self.p.macs, const))
        log = self.log_expr(mono)
        if not factors:
            return Term(None, const, const, log)
        key = (kind, tuple(sorted(f.index for f in factors)))
        if key in self._terms:
            return self._terms[key]
        if len(factors) == 1:
            var = factors[0]
        else:
            var = self.m.new_int_var(1, ub // const, self.name(label))
            self.m.add_multiplication_equality(var, factors)
        t = Term(var, const, ub, log)
        self._terms[key] = t
        return t

    def _prime_term(self, mono: Mono, label: str) -> Term | None:
        """The monomial's prime part as one table: a column per prime p holding the sum of
        p's exponents over the monomial's dims (linear in the exponent atoms), and its value
        prod p^sum.  CP-SAT encodes such a table with literals, so it propagates exactly
        between the exponents and the value, where the product of per-dim tables only
        propagates bounds through a chain of binary products, and the LP sees that encoding
        (one worker, :mod:`.tuning`: the hardest benchmark layers prove in a fifth of the CPU
        time; docs/performance.md, "Prime tables").  None when the table would exceed
        :data:`PRIME_TABLE_ROWS` rows."""
        const, ub, sums, tops = mono.const, mono.const, {}, {}
        for (d, p), c in sorted(mono.exps.items(), key=repr):
            items = nonzero(c)
            if not items:
                continue
            if items == self.full.get((d, p)):  # the whole dim: a constant
                const *= p ** self.primes[d][p]
                ub *= p ** self.primes[d][p]
                continue
            sums.setdefault(p, []).append(self.sum_var(d, p, Counter(dict(sorted(items, key=repr)))))
            tops[p] = tops.get(p, 0) + self.primes[d][p]
        if math.prod(k + 1 for k in tops.values()) > PRIME_TABLE_ROWS:
            return None
        factors = []
        if sums:
            primes = sorted(sums)
            key = ("primes", tuple((p, tuple(v.index for v in sums[p])) for p in primes))
            if key not in self._tables:
                cols = [self._prime_sum(p, sums[p], tops[p]) for p in primes]
                rows = [list(es) + [math.prod(p**e for p, e in zip(primes, es))]
                        for es in itertools.product(*(range(tops[p] + 1) for p in primes))]
                vals = sorted({r[-1] for r in rows})
                y = self.m.new_int_var_from_domain(cp_model.Domain.from_values(vals), self.name(f"pf_{label}"))
                self.m.add_allowed_assignments(cols + [y], rows)
                self._tables[key] = (y, vals[-1])
            y, hi = self._tables[key]
            factors.append(y)
            ub *= hi
        return self._product_term(mono, factors, const, ub, ("primes", const), label)

    def _prime_sum(self, p: int, parts: list, top: int):
        """An IntVar equal to the sum of ``parts`` (exponent sums of prime p), at most ``top``."""
        if len(parts) == 1:
            return parts[0]
        key = ("p", p, tuple(v.index for v in parts))
        if key not in self._sums:
            v = self.m.new_int_var(0, top, self.name(f"psum_{p}"))
            self.m.add(v == sum(parts))
            self._sums[key] = v
        return self._sums[key]

    def relaxed_term(self, mono: Mono, label: str) -> Term:
        """``pwl``: a variable bounded below only by the tangent cuts of its log (no
        product constraint), so it never exceeds the true count at an optimum."""
        if not mono.windows and all(nonzero(c) in (frozenset(), self.full.get(k)) for k, c in mono.exps.items()):
            return self.term(mono, label)  # a constant
        key = ("pwl", mono.key())
        if key not in self._terms:
            ub = max(self.p.macs, mono.const)
            v = self.m.new_int_var(1, ub, self.name(f"pwl_{label}"))
            self._terms[key] = Term(v, 1, ub, self.log_expr(mono))
        return self._terms[key]

    def cut(self, t: Term, ratio: float) -> None:
        """Tangent cuts of exp in the log domain at a geometric grid of points a:
        v >= a * (1 + ln v - ln a).  Valid at every integer point because exp is convex
        and the log expression never exceeds the true log."""
        if not self.tangent_cuts or t.is_const or (id(t), ratio) in self._cut:
            return
        self._cut.add((id(t), ratio))
        a = max(1, t.const)
        while a <= t.ub:
            rhs = a * CUT_SCALE * (1 - math.log(a))
            if CUT_SCALE * t.ub + abs(rhs) + a * CUT_SCALE * math.log(max(2, t.ub)) >= INT64_SAFE:
                break  # past int64 (layers near 1e15 MACs): the cuts are optional, the model stays exact
            self.m.add(CUT_SCALE * t.expr - a * t.log >= math.floor(rhs) - 1)
            a = max(a + 1, math.ceil(a * ratio))

    # ---- literals
    def gated(self, t: Term, cond, label: str):
        """``t`` if the literal ``cond`` holds, else 0 (cond may be a Python bool)."""
        if cond is True:
            return t.expr
        if cond is False:
            return 0
        if t.is_const:
            return t.const * cond
        key = (id(t), cond.index)
        if key not in self._gated:
            g = self.m.new_int_var(0, t.ub, self.name(label))
            self.m.add(g == t.expr).only_enforce_if(cond)
            self.m.add(g == 0).only_enforce_if(cond.negated())
            self._gated[key] = g
        return self._gated[key]

    def conj(self, lits, label: str):
        """A literal equal to the conjunction (Python bools folded)."""
        out = []
        for lit in lits:
            if lit is False:
                return False
            if lit is not True:
                out.append(lit)
        if not out:
            return True
        if len(out) == 1:
            return out[0]
        b = self.m.new_bool_var(self.name(label))
        self.m.add_bool_and(out).only_enforce_if(b)
        self.m.add_bool_or([lit.negated() for lit in out]).only_enforce_if(b.negated())
        self.parts[b.index] = ("and", tuple(out))
        return b

    def disj(self, p, q):
        """A literal equal to p or q (Python bools folded)."""
        if p is True or q is True:
            return True
        if p is False:
            return q
        if q is False:
            return p
        o = self.m.new_bool_var(self.name("or"))
        self.m.add_bool_or([p, q]).only_enforce_if(o)
        self.m.add_bool_and([p.negated(), q.negated()]).only_enforce_if(o.negated())
        self.parts[o.index] = ("or", (p, q))
        return o

    @staticmethod
    def neg(lit):
        return (not lit) if isinstance(lit, bool) else lit.negated()

"""The CP-SAT model of one layer's mapping space.

Decision variables (docs/solver.md explains the encoding and why it is exact):

* ``e[d, p, s]``: exponent of prime ``p`` of dim ``d`` placed in slot ``s`` (a level's
  temporal loops or one axis of a fanout); they sum to the dim's exponent, so factors
  multiply exactly to the dim.
* ``keep[i, T]``: level ``i`` keeps tensor ``T`` (bypass otherwise), where allowed.
* ``inner[j, T]``: at level ``j`` the loops irrelevant to ``T`` are innermost.  In every
  layer kind cpmap knows, a dim is irrelevant to at most one tensor, so this one choice per
  level captures every effect loop order has in the cost model (a test compares it with
  all permutations).

Every access count of docs/cost-model.md is a sum of *monomials*: products of factors
(and sliding-window tile extents).  A monomial is held symbolically as, per dim and
prime, a linear expression in the exponents, so

* its logarithm is linear in the exponents (exact, no approximation), which gives the
  LP relaxation tangent cuts of ``exp`` -- the log-domain view of CoSA-style models;
* its value is an n-ary product of one small table per dim (exponent sums -> divisor),
  so the objective equals the evaluator's energy exactly (``exact`` encoding), or only
  the tangent cuts are kept (``pwl``: a relaxation, never above the true cost).

Loop-order reuse removes a tensor's irrelevant factors from its refill count; that
removal is gated at the exponent level (big-M of at most a dim's exponent), which keeps
the relaxation tight.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

from ortools.sat.python import cp_model

from .arch import Arch
from .factors import divisors, prime_factors
from .problem import Problem, window_extent

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


@dataclass(frozen=True)
class Slot:
    level: int
    axis: str | None = None  # None: temporal loops of the level

    @property
    def spatial(self) -> bool:
        return self.axis is not None


@dataclass(frozen=True)
class UserConstraints:
    """Optional restrictions on the mapping space.

    ``spatial_dims``: {(level index, axis): allowed dims} (a fixed dataflow such as C|K);
    ``keeps``: {level index: tensors it must keep exactly} (fixed bypass);
    ``min_utilization``: used PEs / PEs lower bound;
    ``max_factor``: {(level index, dim): largest temporal factor}."""

    spatial_dims: dict = field(default_factory=dict)
    keeps: dict = field(default_factory=dict)
    min_utilization: float = 0.0
    max_factor: dict = field(default_factory=dict)


@dataclass
class LayerModel:
    """The built model and the handles needed to read a mapping back."""

    model: cp_model.CpModel
    slots: list[Slot]
    exponents: dict  # (dim, slot) -> [(prime, IntVar)]; absent: factor 1
    keep: dict  # (level, tensor) -> BoolVar or bool
    inner: dict  # (level, tensor) -> BoolVar
    counts: dict  # ('reads'|'writes', level, tensor) -> IntVar; ('net', level) -> IntVar
    scale: int
    rounding: float
    constant_pj: float  # MAC energy, added outside the model
    objective: str
    encoding: str
    cycles: object = None  # compute cycles (IntVar or int)
    energy: object = None  # scaled energy without the MAC constant (LinearExpr)
    edp_quantum: int = 1  # edp: the objective is floor(scaled energy / quantum) * cycles

    def factor(self, value, d: str, s: Slot) -> int:
        """The loop factor of dim ``d`` in slot ``s`` under solver values ``value``."""
        return math.prod(p ** int(value(v)) for p, v in self.exponents.get((d, s), ()))


class Mono:
    """A product of loop factors (and window extents) held symbolically.

    ``exps[(d, p)]`` is a Counter {atom: coefficient} whose sum is the exponent of prime p
    of dim d in the product; atoms are exponent variables or gated reuse variables."""

    __slots__ = ("const", "exps", "windows")

    def __init__(self, const: int = 1, exps: dict | None = None, windows: tuple = ()):
        self.const, self.exps, self.windows = const, exps or {}, windows

    def __mul__(self, other: Mono) -> Mono:
        exps = {k: Counter(v) for k, v in self.exps.items()}
        for k, v in other.exps.items():
            c = exps.setdefault(k, Counter())
            c.update(v)
        return Mono(self.const * other.const, exps, self.windows + other.windows)


    def key(self) -> tuple:
        exps = tuple(sorted((k, _nonzero(c)) for k, c in self.exps.items()))
        return (self.const, tuple(e for e in exps if e[1]), tuple(sorted(self.windows)))


def _nonzero(counter) -> frozenset:
    """The (atom, coefficient) pairs of an exponent counter, zeros dropped."""
    return frozenset((a, n) for a, n in (counter or {}).items() if n)


def prod(monos) -> Mono:
    out = Mono()
    for m in monos:
        out = out * m
    return out


@dataclass
class Term:
    """A materialized monomial: value = ``const * var`` (var None: the constant)."""

    var: object
    const: int
    ub: int
    log: object  # linear lower bound of ln(value) * CUT_SCALE (int when constant)

    @property
    def expr(self):
        return self.const if self.var is None else self.const * self.var

    @property
    def is_const(self) -> bool:
        return self.var is None


class _Builder:
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
        self._gated: dict = {}

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

    def _linear(self, counter: Counter):
        return sum(c * self.atoms[a] for a, c in sorted(counter.items(), key=repr) if c)

    def _sum_var(self, d, p, counter: Counter):
        """An IntVar equal to the exponent sum (the atom itself when it is one)."""
        items = sorted(((a, c) for a, c in counter.items() if c), key=repr)
        if len(items) == 1 and items[0][1] == 1:
            return self.atoms[items[0][0]]
        key = (d, p, frozenset(items))
        if key not in self._sums:
            v = self.m.new_int_var(0, self.primes[d][p], self.name(f"sum_{d}{p}"))
            self.m.add(v == self._linear(counter))
            self._sums[key] = v
        return self._sums[key]

    def _dim_factor(self, d: str, counters: dict):
        """(IntVar or int, ub) for prod_p p^(sum of counter[p]) of dim d, via one table."""
        const, var_primes = 1, []
        for p, k in self.primes[d].items():
            items = _nonzero(counters.get(p))
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
        sums = [self._sum_var(d, p, Counter(dict(sorted(items, key=repr)))) for p, items in var_primes]
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
            out += lp * self._linear(c)
        for w in mono.windows:
            out += self.windows[w][1]
        return out

    def term(self, mono: Mono, label: str) -> Term:
        """Materialize a monomial: one table per dim, then one n-ary product."""
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
        key = (tuple(sorted(f.index for f in factors)), const)
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

    def relaxed_term(self, mono: Mono, label: str) -> Term:
        """``pwl``: a variable bounded below only by the tangent cuts of its log (no
        product constraint), so it never exceeds the true count at an optimum."""
        if not mono.windows and all(_nonzero(c) in (frozenset(), self.full.get(k)) for k, c in mono.exps.items()):
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
        if t.is_const or (id(t), ratio) in self._cut:
            return
        self._cut.add((id(t), ratio))
        a = max(1, t.const)
        while a <= t.ub:
            rhs = a * CUT_SCALE * (1 - math.log(a))
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
        return o

    @staticmethod
    def neg(lit):
        return (not lit) if isinstance(lit, bool) else lit.negated()


def build_model(problem: Problem, arch: Arch, objective: str = "energy",
                constraints: UserConstraints | None = None, encoding: str = "exact") -> LayerModel:
    """Build the CP-SAT model whose objective is the evaluator's energy (scaled to
    integers; ``pwl``: a piecewise-linear under-approximation of it) or compute cycles
    ("delay")."""
    if encoding not in ("exact", "pwl"):
        raise ValueError(f"unknown encoding {encoding!r}")
    cons = constraints or UserConstraints()
    b = _Builder(problem)
    m = b.m
    L = len(arch.levels)
    levels = arch.levels
    tensors = problem.tensor_names
    # dims as tuples in the problem's order (never sets): the model, and so CP-SAT's search,
    # must not depend on Python's per-process hash seed
    rel = {t.name: tuple(d for d in problem.dims if d in t.dims) for t in problem.tensors}
    all_dims = tuple(problem.dims)
    irr = {t: tuple(d for d in all_dims if d not in rel[t]) for t in tensors}
    for d in problem.dims:
        if sum(d in irr[t] for t in tensors) > 1:
            raise NotImplementedError(f"dim {d} is irrelevant to several tensors; the loop-order "
                                      "classes assume each dim is irrelevant to at most one")

    # ---- slots and exponent variables
    slots: list[Slot] = []
    for i, lv in enumerate(levels):
        slots.append(Slot(i))
        if lv.fanout is not None:
            slots.extend(Slot(i, ax) for ax, _ in lv.fanout.axes)
    exponents: dict = {}
    log_terms: dict = {}  # slot -> [(LOG_SCALE * ln p, exponent var)]
    for d, size in zip(problem.dims, problem.sizes):
        primes = b.primes[d]
        for s in slots:
            cap = size
            if s.spatial:
                cap = min(cap, levels[s.level].fanout.axis_size(s.axis))
                allowed = cons.spatial_dims.get((s.level, s.axis))
                if allowed is not None and d not in allowed:
                    cap = 1
                if (not levels[s.level].fanout.reduction) and d not in rel["O"]:
                    cap = 1  # partial sums cannot be added across this fanout
            else:
                cap = min(cap, cons.max_factor.get((s.level, d), size))
            if cap == 1 or size == 1:
                continue
            evs = []
            for p, k in primes.items():
                hi = min(k, int(math.log(cap) / math.log(p) + 1e-9))
                if hi == 0:
                    continue
                v = m.new_int_var(0, hi, b.name(f"e_{d}{p}_{s.level}{s.axis or ''}"))
                b.atoms["e", d, p, s] = v
                evs.append((p, v))
                log_terms.setdefault(s, []).append((round(math.log(p) * LOG_SCALE), v))
            if evs:
                exponents[d, s] = evs
                if cap < size:  # the factor itself must not exceed the cap
                    m.add(sum(round(math.log(p) * LOG_SCALE) * v for p, v in evs)
                          <= round(math.log(cap) * LOG_SCALE) + 16 * len(evs))
        for p, k in primes.items():
            terms = [b.atoms["e", d, p, s] for s in slots if ("e", d, p, s) in b.atoms]
            if not terms:
                raise ValueError(f"dim {d} cannot be mapped: every slot is restricted to factor 1")
            m.add(sum(terms) == k)
            b.full[d, p] = frozenset((("e", d, p, s), 1) for s in slots if ("e", d, p, s) in b.atoms)

    # ---- fanout limits, log-linearized (exact, see LOG_SCALE)
    for s in slots:
        if s.spatial and s in log_terms:
            size = levels[s.level].fanout.axis_size(s.axis)
            m.add(sum(c * v for c, v in log_terms[s]) <= round(math.log(size) * LOG_SCALE) + 16 * len(log_terms[s]))
    if cons.min_utilization > 0:
        need = math.ceil(cons.min_utilization * arch.pes - 1e-9)
        sp = [cv for s in slots if s.spatial for cv in log_terms.get(s, [])]
        m.add(sum(c * v for c, v in sp) >= round(math.log(need) * LOG_SCALE) - 16 * len(sp) - 1)

    # ---- symbolic building blocks
    def at(dims, pred) -> Mono:
        return b.mono(dims, pred, slots)

    sp_all = {j: at(all_dims, lambda s, j=j: s.level == j and s.spatial) for j in range(L)}
    sp_rel = {(t, j): at(rel[t], lambda s, j=j: s.level == j and s.spatial) for t in tensors for j in range(L)}
    t_all = {j: at(all_dims, lambda s, j=j: s.level == j and not s.spatial) for j in range(L)}
    t_rel = {(t, j): at(rel[t], lambda s, j=j: s.level == j and not s.spatial) for t in tensors for j in range(L)}
    cycles_m = prod(t_all.values())

    def exps_at(d, pred):
        return {p: [b.atoms["e", d, p, s] for s in slots if pred(s) and ("e", d, p, s) in b.atoms]
                for p in b.primes[d]}

    def has_any(dims, j):
        """Literal-free helper: the exponent variables of ``dims`` in level j's temporal slot."""
        return [b.atoms["e", d, p, Slot(j)] for d in dims for p in b.primes[d] if ("e", d, p, Slot(j)) in b.atoms]

    # ---- tile sizes (windows through exact tables with a log column)
    def tile(t, i) -> Mono:
        mono = Mono()
        for k, ax in enumerate(t.axes):
            below = lambda s, i=i: s.level <= i
            if len(ax.terms) == 1:
                mono = mono * at([ax.terms[0][0]], below)
                continue
            key = (t.name, i, k)
            if key not in b.windows:
                (d0, c0), (d1, c1) = ax.terms
                e0, e1 = exps_at(d0, below), exps_at(d1, below)
                p0 = [p for p in b.primes[d0] if e0[p]]
                p1 = [p for p in b.primes[d1] if e1[p]]
                if not p0 and not p1:
                    mono = mono * Mono(window_extent(c0, c1, 1, 1))
                    continue
                s0 = [b._sum_var(d0, p, Counter({("e", d0, p, s): 1 for s in slots
                                                if below(s) and ("e", d0, p, s) in b.atoms})) for p in p0]
                s1 = [b._sum_var(d1, p, Counter({("e", d1, p, s): 1 for s in slots
                                                if below(s) and ("e", d1, p, s) in b.atoms})) for p in p1]
                rows = []
                for a0 in divisors(math.prod(p ** b.primes[d0][p] for p in p0)):
                    f0 = prime_factors(a0)
                    for a1 in divisors(math.prod(p ** b.primes[d1][p] for p in p1)):
                        f1 = prime_factors(a1)
                        w = window_extent(c0, c1, a0, a1)
                        rows.append([f0.get(p, 0) for p in p0] + [f1.get(p, 0) for p in p1]
                                    + [w, math.floor(math.log(w) * CUT_SCALE)])
                ws = sorted({r[-2] for r in rows})
                wv = m.new_int_var_from_domain(cp_model.Domain.from_values(ws), b.name(f"win_{t.name}{i}"))
                lw = m.new_int_var(0, max(r[-1] for r in rows), b.name(f"lnwin_{t.name}{i}"))
                m.add_allowed_assignments(s0 + s1 + [wv, lw], rows)
                b.windows[key] = (wv, lw, max(ws))
            mono = mono * Mono(1, {}, (key,))
        return mono

    S = {(t.name, i): tile(t, i) for t in problem.tensors for i in range(L)}

    # ---- bypass
    keep = {}
    for i, lv in enumerate(levels):
        for t in tensors:
            if i == L - 1:
                keep[i, t] = True
            elif i in cons.keeps:
                keep[i, t] = t in cons.keeps[i]
            elif t not in lv.keeps:
                keep[i, t] = False
            else:
                keep[i, t] = m.new_bool_var(f"keep_{lv.name}_{t}")

    # ---- capacity (exact integer tile sizes; tangent cuts give the LP the log view)
    for i, lv in enumerate(levels):
        if lv.unbounded:
            continue
        kept = [(t, keep[i, t]) for t in tensors if keep[i, t] is not False]
        tiles = {t: b.term(S[t, i], f"tile_{t}{i}") for t, _ in kept}
        for tt in tiles.values():
            b.cut(tt, CUT_RATIO)
        if lv.capacity is not None:
            m.add(sum(b.gated(tiles[t], k, f"cap_{lv.name}{t}") for t, k in kept) <= lv.capacity)
        else:
            for t, k in kept:
                lim = lv.partition(t)
                if k is True:
                    m.add(tiles[t].expr <= lim)
                else:
                    m.add(tiles[t].expr <= lim).only_enforce_if(k)

    # ---- loop-order classes: "inner[j, T]" = T's irrelevant loops are innermost at level j.
    # A class is only chosen where its tensor has an irrelevant loop, and "none" only where
    # no tensor has one: the order read back then realizes exactly the modelled reuse.
    inner = {}
    for j in range(1, L):
        none = m.new_bool_var(f"inner_{levels[j].name}_none")
        lits = [m.new_bool_var(f"inner_{levels[j].name}_{t}") for t in tensors]
        m.add_exactly_one(lits + [none])
        for t, lit in zip(tensors, lits):
            inner[j, t] = lit
            ev = has_any(irr[t], j)
            if not ev:
                m.add(lit == 0)
            else:
                m.add(sum(ev) >= 1).only_enforce_if(lit)
                m.add(sum(ev) == 0).only_enforce_if(none)
    no_rel = {}
    for t in tensors:
        for j in range(L):
            ev = has_any(rel[t], j)
            if not ev:
                no_rel[t, j] = True
            else:
                z = m.new_bool_var(f"norel_{t}{j}")
                m.add(sum(ev) == 0).only_enforce_if(z)
                m.add(sum(ev) >= 1).only_enforce_if(z.negated())
                no_rel[t, j] = z

    def versions(t: str, i: int) -> tuple[Mono, Mono]:
        """(F, U) of tensor t's tile at level i: F removes the irrelevant factors of the
        innermost run of levels above i, gated per exponent."""
        F = prod(t_all[j] for j in range(i + 1, L))
        alive = True  # every level between i and j has no relevant loop
        for j in range(i + 1, L):
            in_run = b.conj([alive, b.disj(inner[j, t], no_rel[t, j])], f"run_{t}{i}{j}")
            if in_run is not False:
                for d in irr[t]:
                    for p, k in b.primes[d].items():
                        a = ("e", d, p, Slot(j))
                        if a not in b.atoms:
                            continue
                        if in_run is True:
                            F.exps[d, p][a] -= 1
                            continue
                        e = b.atoms[a]
                        r = m.new_int_var(0, k, b.name(f"r_{t}{i}{j}{d}{p}"))
                        m.add(r == e).only_enforce_if(in_run)
                        m.add(r == 0).only_enforce_if(in_run.negated())
                        m.add(r <= e)
                        b.atoms["r", t, i, j, d, p] = r
                        F.exps[d, p]["r", t, i, j, d, p] -= 1
            alive = b.conj([alive, no_rel[t, j]], f"alive_{t}{i}{j}")
        U = prod(t_rel[t, j] for j in range(i + 1, L))
        return F, U

    # ---- access counts (docs/cost-model.md section 3): each count is a sum of gated monomials
    terms: list = []  # (kind, level, tensor, sign, expr)
    cut_ratio = PWL_RATIO if encoding == "pwl" else CUT_RATIO

    pending: list = []

    def add(kind, level, tensor, mono, cond, label, sign=1):
        if cond is not False:
            pending.append((kind, level, tensor, sign, mono, cond, label))

    def keeps_none(t, lo, hi):
        """Literal: no level strictly between lo and hi keeps t."""
        return b.conj([b.neg(keep[j, t]) for j in range(lo + 1, hi)], f"byp_{t}{lo}{hi}")

    for t in tensors:
        is_o = t == "O"
        # sharing per fanout: O always reduces (required), W/I multicast where supported
        shared = {j: (sp_rel[t, j] if (is_o or (levels[j].fanout is not None and levels[j].fanout.multicast))
                      else sp_all[j]) for j in range(L)}

        def per_child(i, upto, last, shared=shared):
            """sent(t, i) = used(i) * last divided by the sharing factors of fanouts i+1..upto."""
            return prod([sp_all[j] for j in range(upto + 1, L)] + [shared[j] for j in range(i + 1, upto + 1)] + last)

        innermost = {k: b.conj([keep[k, t]] + [b.neg(keep[j, t]) for j in range(k)], f"inn_{t}{k}")
                     for k in range(L)}
        for i in range(L - 1):
            if keep[i, t] is False:
                continue
            F, U = versions(t, i)
            St = S[t, i]
            sent = per_child(i, i, [F, St])
            for p in range(i + 1, L):
                if keep[p, t] is False:
                    continue
                pair = b.conj([keep[i, t], keep[p, t], keeps_none(t, i, p)], f"pair_{t}{i}{p}")
                if pair is False:
                    continue
                up = per_child(i, p, [F, St])  # sent / g: one transfer per sharing group
                if is_o:
                    first = per_child(i, p, [U, St])  # first versions: no read-back
                    add("writes", p, t, up, pair, "wb")
                    add("reads", p, t, up, pair, "rb")
                    add("reads", p, t, first, pair, "rb0", -1)
                    add("writes", i, t, up, pair, "rbw")
                    add("writes", i, t, first, pair, "rbw0", -1)
                    for j in range(i + 1, p + 1):
                        add("net", j, None, per_child(i, j - 1, [F, St]), pair, "net_wb")
                        add("net", j, None, up, pair, "net_rb")
                        add("net", j, None, first, pair, "net_rb0", -1)
                    # fresh element-versions at the innermost keeper: sent - read-backs
                    inn_pair = b.conj([innermost[i], pair], f"innpair_{t}{i}{p}")
                    add("reads", i, t, sent, inn_pair, "fresh", -1)
                    add("reads", i, t, up, inn_pair, "fresh_rb")
                    add("reads", i, t, first, inn_pair, "fresh_rb0", -1)
                else:
                    add("writes", i, t, sent, pair, "fill")
                    add("reads", p, t, up, pair, "fill_src")
                    for j in range(i + 1, p + 1):
                        add("net", j, None, per_child(i, j - 1, [F, St]), pair, "net_fill")
        # MAC accesses at the innermost keeper k
        for k in range(L):
            lit = innermost[k]
            if lit is False:
                continue
            per_mac = prod([cycles_m] + [sp_all[j] for j in range(k + 1, L)] + [shared[j] for j in range(1, k + 1)])
            for j in range(1, k + 1):
                nv = prod([cycles_m] + [sp_all[j2] for j2 in range(j, L)] + [shared[j2] for j2 in range(1, j)])
                add("net", j, None, nv, lit, "net_mac")
            add("reads", k, t, per_mac, lit, "mac_r")
            if is_o:
                add("writes", k, t, per_mac, lit, "mac_w")
                if k == L - 1:  # only the outermost keeps O: its first touches are fresh
                    add("reads", k, t, Mono(problem.tensor_words("O")), lit, "fresh_top", -1)

    # pwl relaxes only monomials that always count positively: a relaxed monomial with a
    # minus sign could over-estimate the energy
    negative = {mono.key() for *_, sign, mono, _c, _l in pending if sign < 0}
    for kind, level, tensor, sign, mono, cond, label in pending:
        if encoding == "pwl" and mono.key() not in negative:
            t = b.relaxed_term(mono, label)
        else:
            t = b.term(mono, label)
        b.cut(t, cut_ratio)
        g = b.gated(t, cond, label)
        if not (isinstance(g, int) and g == 0):
            terms.append((kind, level, tensor, sign, g, t.ub))
    sums: dict = {}
    his: dict = {}  # upper bound of each count: the sum of its positive terms' bounds
    for kind, level, tensor, sign, g, ub in terms:
        key = ("net", level) if kind == "net" else (kind, level, tensor)
        sums[key] = sums.get(key, 0) + sign * g
        his[key] = his.get(key, 0) + (ub if sign > 0 else 0)
    # Each count as a variable >= 0 (and >= its compulsory part) tightens the relaxation.
    macs = problem.macs
    counts: dict = {}
    for key, expr in sums.items():
        lo = 0
        if key[0] in ("reads", "writes") and key[1] == L - 1:
            t = key[2]
            if key[0] == "reads" and t != "O":
                lo = problem.tensor_words(t)  # every input word leaves DRAM at least once
            if key[0] == "writes" and t == "O":
                lo = problem.tensor_words(t)  # every output is written once
        if isinstance(expr, int):
            counts[key] = expr
            continue
        c = m.new_int_var(lo, max(lo, his[key]), b.name(f"cnt_{key}"))
        m.add(c == expr)
        counts[key] = c
    reads = {(i, t): counts.get(("reads", i, t), 0) for i in range(L) for t in tensors}
    writes = {(i, t): counts.get(("writes", i, t), 0) for i in range(L) for t in tensors}
    net = {j: counts.get(("net", j), 0) for j in range(L)}

    energies = [lv.read_pj for lv in levels] + [lv.write_pj for lv in levels] + \
        [lv.fanout.energy_pj for lv in levels if lv.fanout is not None]
    K, rounding = energy_scale(energies)
    obj = 0
    obj_hi = 0  # an upper bound of obj (edp sizes its quantum with it)
    for i, lv in enumerate(levels):
        cr, cw = math.floor(lv.read_pj * K + 1e-9), math.floor(lv.write_pj * K + 1e-9)
        for t in tensors:
            obj += cr * reads[i, t] + cw * writes[i, t]
            obj_hi += cr * his.get(("reads", i, t), 0) + cw * his.get(("writes", i, t), 0)
        if lv.fanout is not None:
            cn = math.floor(lv.fanout.energy_pj * K + 1e-9)
            obj += cn * net[i]
            obj_hi += cn * his.get(("net", i), 0)
    cyc = b.term(cycles_m, "cycles")
    lm = LayerModel(model=m, slots=slots, exponents=exponents, keep=keep, inner=inner, counts=counts,
                    scale=K, rounding=rounding, constant_pj=macs * arch.mac_pj, objective=objective,
                    encoding=encoding, cycles=cyc.expr, energy=obj)
    if objective == "energy":
        m.minimize(obj)
    elif objective == "delay":
        b.cut(cyc, CUT_RATIO)
        m.minimize(cyc.expr)
    elif objective == "edp":
        # floor(scaled total energy / q) * compute cycles, q a power of two keeping the
        # product inside int64: a lower bound on energy x cycles (cycles >= compute cycles)
        const_k = math.floor(lm.constant_pj * K + 1e-9)
        e_hi = const_k + obj_hi
        q = 1
        while (e_hi // q + 1) * macs >= 2**62:
            q *= 2
        eq = m.new_int_var(0, e_hi // q, "energy_q")
        m.add(q * eq <= obj + const_k)
        m.add(q * eq >= obj + const_k - (q - 1))
        cyc_v = m.new_int_var(1, macs, "cycles")
        m.add(cyc_v == cyc.expr)
        edp = m.new_int_var(0, (e_hi // q) * macs, "edp")
        m.add_multiplication_equality(edp, [eq, cyc_v])
        lm.edp_quantum = q
        m.minimize(edp)
    else:
        raise ValueError(f"unknown objective {objective!r}")
    return lm

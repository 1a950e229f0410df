"""The CP-SAT model of one layer's mapping space (the ``exact`` encoding).

Decision variables (docs/solver.md explains the encoding and why it is exact):

* ``e[d, p, s]``: exponent of prime ``p`` of dim ``d`` placed in slot ``s`` (a level's
  temporal loops or one axis of a fanout); they sum to the dim's exponent, so factors
  multiply exactly to the dim.  ``x[d, s]`` is the factor itself (a table over divisors).
* ``keep[i, T]``: level ``i`` keeps tensor ``T`` (bypass otherwise), where allowed.
* ``inner[j, T]``: at level ``j`` the loops irrelevant to ``T`` are innermost.  In every
  layer kind cpmap knows, a dim is irrelevant to at most one tensor, so this one choice per
  level captures every effect loop order has in the cost model (a test compares it with
  all permutations).

Every access count of docs/cost-model.md is then an integer product of factors (plus
tables for the sliding-window tile sizes), so the objective equals the evaluator's energy
up to the stated rounding of per-word energies to integers.  Counts never exceed the MAC
count, which bounds every product and keeps the model free of int64 overflow.
"""

from __future__ import annotations

import math
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
    x: dict  # (dim, slot) -> IntVar (or int)
    keep: dict  # (level, tensor) -> BoolVar or bool
    inner: dict  # (level, tensor) -> BoolVar
    counts: dict  # ('reads'|'writes', level, tensor) -> LinearExpr; ('net', level) -> LinearExpr
    scale: int
    rounding: float
    constant_pj: float  # MAC energy, added outside the model
    objective: str
    cycles: object = None  # IntVar of compute cycles (delay objectives)


class _Builder:
    def __init__(self, problem: Problem, arch: Arch, cons: UserConstraints):
        self.p, self.a, self.cons = problem, arch, cons
        self.m = cp_model.CpModel()
        self.macs = problem.macs
        self._products: dict = {}
        self._n = 0
        self._ub: dict[int, int] = {}
        self._raw: dict[int, list] = {}  # product var index -> the raw operands it multiplies
        self._gated: dict = {}  # (value, literal index) -> gated var, shared by every use
        self.log: dict[int, object] = {}  # var index -> linear lower bound of ln(var) * CUT_SCALE

    def name(self, base: str) -> str:
        self._n += 1
        return f"{base}#{self._n}"

    def int_var(self, lo: int, hi: int, label: str):
        v = self.m.new_int_var(lo, hi, self.name(label))
        self._ub[v.index] = hi
        return v

    def int_var_in(self, values: list[int], label: str):
        v = self.m.new_int_var_from_domain(cp_model.Domain.from_values(values), self.name(label))
        self._ub[v.index] = max(values)
        return v

    def ub(self, v) -> int:
        # bounds are recorded at creation: reading them back from the model proto is unsafe
        # in OR-Tools 9.15 (IntVar.Proto() crashes; a temporary proto's fields read garbage)
        return v if isinstance(v, int) else self._ub[v.index]

    def product(self, factors, label: str):
        """An IntVar equal to the product (constants folded; cached by operand multiset).

        Built as a binary chain over the *raw* operands (products are flattened into the
        factors they were made of), each step's domain capped at the MAC count: every
        partial product multiplies disjoint factors, so it never exceeds the MACs, and each
        step multiplies a bounded value by a small factor.  An n-ary product of large
        intermediate products would make CP-SAT reject the model for potential overflow."""
        const = 1
        raw = []
        for f in factors:
            if isinstance(f, int):
                const *= f
            else:
                raw.extend(self._raw.get(f.index, [f]))
        if not raw:
            return const
        if const == 1 and len(raw) == 1:
            return raw[0]
        key = (const, tuple(sorted(v.index for v in raw)))
        if key in self._products:
            return self._products[key]
        raw.sort(key=self.ub, reverse=True)
        acc = raw[0]
        for k, v in enumerate(raw[1:], start=2):
            sub = (1, tuple(sorted(w.index for w in raw[:k])))
            if sub in self._products:
                acc = self._products[sub]
                continue
            nxt = self.int_var(1, min(self.ub(acc) * self.ub(v), self.macs), label)
            self.m.add_multiplication_equality(nxt, [acc, v])
            self._products[sub] = nxt
            self._raw[nxt.index] = raw[:k]
            logs = [self.log_of(w) for w in raw[:k]]
            if all(lg is not None for lg in logs):
                self.set_log(nxt, sum(logs))
            acc = nxt
        if const == 1:
            return acc
        t = self.int_var(const, const * self.ub(acc), label)
        self.m.add(t == const * acc)
        self._products[key] = t
        self._raw[t.index] = raw
        if self.log_of(acc) is not None:
            self.set_log(t, self.log_of(acc) + math.floor(math.log(const) * CUT_SCALE))
        return t

    def log_of(self, v):
        if isinstance(v, int):
            return math.floor(math.log(v) * CUT_SCALE)
        return self.log.get(v.index)

    def set_log(self, v, log_expr) -> None:
        """Record a lower bound of ln(v) (scaled) and add tangent cuts of exp at powers of
        two: v >= a * (1 + ln v - ln a).  Valid at every integer point because exp is convex
        and the log expression never exceeds the true log; they give the LP relaxation the
        log-domain view that a pure product encoding lacks."""
        self.log[v.index] = log_expr
        hi = self.ub(v)
        a = 1
        while a <= hi:
            rhs = a * CUT_SCALE * (1 - math.log(a))
            self.m.add(CUT_SCALE * v - a * log_expr >= math.floor(rhs) - 1)
            a *= 2

    def gated(self, value, cond, label: str):
        """``value`` if the literal ``cond`` holds, else 0 (cond may be a Python bool)."""
        if cond is True:
            return value
        if cond is False:
            return 0
        key = (value if isinstance(value, int) else ("v", value.index), cond.index)
        if key in self._gated:
            return self._gated[key]
        hi = value if isinstance(value, int) else self.ub(value)
        g = self.int_var(0, hi, label)
        self.m.add(g == value).only_enforce_if(cond)
        self.m.add(g == 0).only_enforce_if(cond.negated())
        self._gated[key] = g
        return g

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
                constraints: UserConstraints | None = None) -> LayerModel:
    """Build the CP-SAT model whose objective is the evaluator's energy (scaled to
    integers), compute cycles ("delay"), or their product ("edp")."""
    cons = constraints or UserConstraints()
    b = _Builder(problem, arch, cons)
    m = b.m
    L = len(arch.levels)
    levels = arch.levels
    tensors = problem.tensor_names
    rel = {t.name: t.dims for t in problem.tensors}

    # ---- slots and factor variables
    slots: list[Slot] = []
    for i, lv in enumerate(levels):
        slots.append(Slot(i))
        if lv.fanout is not None:
            slots.extend(Slot(i, ax) for ax, _ in lv.fanout.axes)
    x: dict = {}
    exponent: dict = {}  # (dim, slot, prime) -> exponent var
    log_x: dict = {}  # scaled natural log of each factor, linear in the exponents
    for d, size in zip(problem.dims, problem.sizes):
        primes = prime_factors(size)
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
                x[d, s], log_x[d, s] = 1, 0
                continue
            exps = {p: m.new_int_var(0, k, b.name(f"e_{d}{p}_{s.level}{s.axis or ''}")) for p, k in primes.items()}
            divs = [v for v in divisors(size) if v <= cap]
            xv = b.int_var_in(divs, f"x_{d}_{s.level}{s.axis or ''}")
            table = []
            for v in divs:
                pf = prime_factors(v)
                table.append([pf.get(p, 0) for p in primes] + [v])
            m.add_allowed_assignments(list(exps.values()) + [xv], table)
            x[d, s] = xv
            log_x[d, s] = sum(round(math.log(p) * LOG_SCALE) * e for p, e in exps.items())
            b.log[xv.index] = sum(math.floor(math.log(p) * CUT_SCALE) * e for p, e in exps.items())
            for p, e in exps.items():
                exponent[d, s, p] = e
        for p, k in primes.items():
            terms = [exponent[d, s, p] for s in slots if (d, s, p) in exponent]
            if not terms:
                raise ValueError(f"dim {d} cannot be mapped: every slot is restricted to factor 1")
            m.add(sum(terms) == k)

    # ---- fanout limits, log-linearized (exact, see LOG_SCALE)
    for s in slots:
        if not s.spatial:
            continue
        size = levels[s.level].fanout.axis_size(s.axis)
        terms = [log_x[d, s] for d in problem.dims if not isinstance(x[d, s], int)]
        if terms:
            m.add(sum(terms) <= round(math.log(size) * LOG_SCALE) + 16 * len(terms))

    def fac(dims, level_filter, spatial=None):
        """Factors of ``dims`` in slots whose level passes ``level_filter``; spatial None = both."""
        return [x[d, s] for d in dims for s in slots
                if level_filter(s.level) and (spatial is None or s.spatial == spatial)]

    all_dims = set(problem.dims)
    irr = {t: all_dims - rel[t] for t in tensors}
    for d in problem.dims:
        if sum(d in irr[t] for t in tensors) > 1:
            raise NotImplementedError(f"dim {d} is irrelevant to several tensors; the loop-order "
                                      "classes assume each dim is irrelevant to at most one")
    macs = problem.macs

    # products used everywhere
    sp_all = {j: b.product(fac(all_dims, lambda i, j=j: i == j, True), f"sp{j}") for j in range(L)}
    sp_rel = {(t, j): b.product(fac(rel[t], lambda i, j=j: i == j, True), f"sprel_{t}{j}")
              for t in tensors for j in range(L)}
    used = {i: b.product([sp_all[j] for j in range(i + 1, L)], f"used{i}") for i in range(L)}
    t_all = {j: b.product(fac(all_dims, lambda i, j=j: i == j, False), f"tall{j}") for j in range(L)}
    t_rel = {(t, j): b.product(fac(rel[t], lambda i, j=j: i == j, False), f"trel_{t}{j}")
             for t in tensors for j in range(L)}
    t_irr = {(t, j): b.product(fac(irr[t], lambda i, j=j: i == j, False), f"tirr_{t}{j}")
             for t in tensors for j in range(L)}
    cycles = b.product([t_all[j] for j in range(L)], "cycles")

    if cons.min_utilization > 0:
        need = math.ceil(cons.min_utilization * arch.pes - 1e-9)
        m.add(used[0] >= need)

    # ---- extents and tile sizes
    ext = {}
    for d in problem.dims:
        for i in range(L):
            ext[d, i] = b.product(fac([d], lambda lv, i=i: lv <= i), f"ext_{d}{i}")
    tile = {}
    for t in problem.tensors:
        for i in range(L):
            parts = []
            for ax in t.axes:
                if len(ax.terms) == 1:
                    parts.append(ext[ax.terms[0][0], i])
                    continue
                (d0, c0), (d1, c1) = ax.terms
                e0, e1 = ext[d0, i], ext[d1, i]
                v0 = [e0] if isinstance(e0, int) else divisors(problem.size[d0])
                v1 = [e1] if isinstance(e1, int) else divisors(problem.size[d1])
                rows = [(a0, a1, window_extent(c0, c1, a0, a1)) for a0 in v0 for a1 in v1]
                if isinstance(e0, int) and isinstance(e1, int):
                    parts.append(rows[0][2])
                    continue
                w = b.int_var_in(sorted({r[2] for r in rows}), f"win_{t.name}{i}")
                lw = b.int_var(0, math.floor(math.log(b.ub(w)) * CUT_SCALE), f"lnwin_{t.name}{i}")
                m.add_allowed_assignments([b.m.new_constant(e0) if isinstance(e0, int) else e0,
                                         b.m.new_constant(e1) if isinstance(e1, int) else e1, w, lw],
                                        [r + (math.floor(math.log(r[2]) * CUT_SCALE),) for r in rows])
                b.log[w.index] = lw
                parts.append(w)
            tile[t.name, i] = b.product(parts, f"tile_{t.name}{i}")

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

    # ---- capacity (exact integer tile sizes)
    for i, lv in enumerate(levels):
        if lv.unbounded:
            continue
        kept = [(t, keep[i, t]) for t in tensors if keep[i, t] is not False]
        if lv.capacity is not None:
            m.add(sum(b.gated(tile[t, i], k, f"cap_{lv.name}{t}") for t, k in kept) <= lv.capacity)
        else:
            for t, k in kept:
                lim = lv.partition(t)
                if k is True:
                    m.add(tile[t, i] <= lim)
                else:
                    m.add(tile[t, i] <= lim).only_enforce_if(k)

    # ---- loop-order classes and tile versions F, distinct tiles U
    # A class is only chosen where its tensor has an irrelevant loop, and "none" only where no
    # tensor has one: then the order read back gives every tensor exactly the modelled reuse.
    inner = {}
    for j in range(1, L):
        none = m.new_bool_var(f"inner_{levels[j].name}_none")
        lits = [m.new_bool_var(f"inner_{levels[j].name}_{t}") for t in tensors]
        m.add_exactly_one(lits + [none])
        for t, lit in zip(tensors, lits):
            inner[j, t] = lit
            if isinstance(t_irr[t, j], int):
                m.add(lit == 0)
            else:
                m.add(t_irr[t, j] >= 2).only_enforce_if(lit)
                m.add(t_irr[t, j] == 1).only_enforce_if(none)
    no_rel = {}
    for t in tensors:
        for j in range(L):
            v = t_rel[t, j]
            if isinstance(v, int):
                no_rel[t, j] = v == 1
            else:
                z = m.new_bool_var(f"norel_{t}{j}")
                m.add(v == 1).only_enforce_if(z)
                m.add(v >= 2).only_enforce_if(z.negated())
                no_rel[t, j] = z

    def versions(t: str, i: int):
        """(F, U) of tensor t's tile at level i."""
        runs = []
        run_logs: list | None = []
        alive = True  # every level between i and j has no relevant loop
        for j in range(i + 1, L):
            in_run = b.conj([alive, b.disj(inner[j, t], no_rel[t, j])], f"run_{t}{i}{j}")
            r = t_irr[t, j]
            if not isinstance(r, int) and in_run is not False:
                rv = b.int_var(1, b.ub(r), f"reuse_{t}{i}{j}")
                if in_run is True:
                    m.add(rv == r)
                else:
                    m.add(rv == r).only_enforce_if(in_run)
                    m.add(rv == 1).only_enforce_if(in_run.negated())
                runs.append(rv)
                lr = b.log_of(r)
                if lr is not None:
                    top = b.int_var(0, 10**7, f"lnreuse_{t}{i}{j}")
                    m.add(top <= lr)
                    if in_run is not True:
                        m.add(top == 0).only_enforce_if(in_run.negated())
                    run_logs.append(top)
                else:
                    run_logs = None
            alive = b.conj([alive, no_rel[t, j]], f"alive_{t}{i}{j}")
        above = b.product([t_all[j] for j in range(i + 1, L)], f"above{i}")
        reuse = b.product(runs, f"reuse_{t}{i}")
        if isinstance(reuse, int) and reuse == 1:
            F = above
        else:
            F = b.int_var(1, b.ub(above), f"F_{t}{i}")
            m.add_multiplication_equality(above, [F, reuse])
            if run_logs is not None and b.log_of(above) is not None:
                b.set_log(F, b.log_of(above) - sum(run_logs))
        U = b.product([t_rel[t, j] for j in range(i + 1, L)], f"U_{t}{i}")
        return F, U

    # ---- access counts (docs/cost-model.md section 3): each count is a sum of gated products
    terms: list = []  # (kind, level, tensor, sign, var, label); kind in reads/writes/net

    def add(kind, level, tensor, value, cond, label, sign=1):
        g = b.gated(value, cond, label)
        if not (isinstance(g, int) and g == 0):
            terms.append((kind, level, tensor, sign, g, label))

    def keeps_none(t, lo, hi):
        """Literal: no level strictly between lo and hi keeps t."""
        return b.conj([b.neg(keep[j, t]) for j in range(lo + 1, hi)], f"byp_{t}{lo}{hi}")

    for t in tensors:
        is_o = t == "O"
        # sharing per fanout: O always reduces (required), W/I multicast where supported
        shared = {j: (sp_rel[t, j] if (is_o or (levels[j].fanout is not None and levels[j].fanout.multicast))
                      else sp_all[j]) for j in range(L)}

        def per_child(i, upto, last, t=t, shared=shared):
            """sent(t, i) = used(i) * last divided by the sharing factors of fanouts i+1..upto."""
            return b.product([sp_all[j] for j in range(upto + 1, L)]
                             + [shared[j] for j in range(i + 1, upto + 1)] + last, f"q_{t}{i}{upto}")

        innermost = {k: b.conj([keep[k, t]] + [b.neg(keep[j, t]) for j in range(k)], f"inn_{t}{k}")
                     for k in range(L)}
        for i in range(L - 1):
            if keep[i, t] is False:
                continue
            F, U = versions(t, i)
            S = tile[t, i]
            sent = per_child(i, i, [F, S])
            for p in range(i + 1, L):
                if keep[p, t] is False:
                    continue
                pair = b.conj([keep[i, t], keep[p, t], keeps_none(t, i, p)], f"pair_{t}{i}{p}")
                if pair is False:
                    continue
                up = per_child(i, p, [F, S])  # sent / g: one transfer per sharing group
                if is_o:
                    first = per_child(i, p, [U, S])  # first versions: no read-back
                    add("writes", p, t, up, pair, "wb")
                    add("reads", p, t, up, pair, "rb")
                    add("reads", p, t, first, pair, "rb0", -1)
                    add("writes", i, t, up, pair, "rbw")
                    add("writes", i, t, first, pair, "rbw0", -1)
                    for j in range(i + 1, p + 1):
                        add("net", j, None, per_child(i, j - 1, [F, S]), pair, "net_wb")
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
                        add("net", j, None, per_child(i, j - 1, [F, S]), pair, "net_fill")
        # MAC accesses at the innermost keeper k
        for k in range(L):
            lit = innermost[k]
            if lit is False:
                continue
            per_mac = b.product([cycles] + [sp_all[j] for j in range(k + 1, L)]
                                + [shared[j] for j in range(1, k + 1)], f"mac_{t}{k}")
            for j in range(1, k + 1):
                nv = b.product([cycles] + [sp_all[j2] for j2 in range(j, L)]
                               + [shared[j2] for j2 in range(1, j)], f"mac_{t}{j - 1}")
                add("net", j, None, nv, lit, "net_mac")
            add("reads", k, t, per_mac, lit, "mac_r")
            if is_o:
                add("writes", k, t, per_mac, lit, "mac_w")
                if k == L - 1:  # only the outermost keeps O: its first touches are fresh
                    add("reads", k, t, problem.tensor_words("O"), lit, "fresh_top", -1)

    sums: dict = {}
    for kind, level, tensor, sign, g, _label in terms:
        key = ("net", level) if kind == "net" else (kind, level, tensor)
        sums[key] = sums.get(key, 0) + sign * g
    # Each count as a variable >= 0 (and >= its compulsory part) tightens the relaxation:
    # without it the read-back differences can go negative in the LP.
    counts: dict = {}
    for key, expr in sums.items():
        lo = 0
        if key[0] in ("reads", "writes") and key[1] == L - 1:
            t = key[2]
            if key[0] == "reads" and t != "O":
                lo = problem.tensor_words(t)  # every input word leaves DRAM at least once
            if key[0] == "writes" and t == "O":
                lo = problem.tensor_words(t)  # every output is written once
        c = b.int_var(lo, 4 * macs + problem.tensor_words("O"), f"cnt_{key}")
        m.add(c == expr)
        counts[key] = c
    reads = {(i, t): counts.get(("reads", i, t), 0) for i in range(L) for t in tensors}
    writes = {(i, t): counts.get(("writes", i, t), 0) for i in range(L) for t in tensors}
    net = {j: counts.get(("net", j), 0) for j in range(L)}

    energies = [lv.read_pj for lv in levels] + [lv.write_pj for lv in levels] + \
        [lv.fanout.energy_pj for lv in levels if lv.fanout is not None]
    K, rounding = energy_scale(energies)
    obj = 0
    for i, lv in enumerate(levels):
        cr, cw = math.floor(lv.read_pj * K + 1e-9), math.floor(lv.write_pj * K + 1e-9)
        for t in tensors:
            obj += cr * reads[i, t] + cw * writes[i, t]
        if lv.fanout is not None:
            obj += math.floor(lv.fanout.energy_pj * K + 1e-9) * net[i]
    lm = LayerModel(model=m, slots=slots, x=x, keep=keep, inner=inner, counts=counts, scale=K,
                    rounding=rounding, constant_pj=macs * arch.mac_pj, objective=objective,
                    cycles=cycles)
    if objective == "energy":
        m.minimize(obj)
    elif objective == "delay":
        m.minimize(cycles)
    elif objective == "edp":
        raise NotImplementedError("edp objective")
    else:
        raise ValueError(f"unknown objective {objective!r}")
    return lm


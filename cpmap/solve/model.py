"""The CP-SAT model of one layer's mapping space.

Decision variables (docs/solver.md explains the encoding and why it is exact):

* ``e[d, p, s]``: exponent of prime ``p`` of dim ``d`` placed in slot ``s`` (a level's
  temporal loops or one axis of a fanout); they sum to the dim's exponent, so factors
  multiply exactly to the dim.
* ``keep[i, T]``: level ``i`` keeps tensor ``T`` (bypass otherwise), where allowed.
* ``inner[j, T]``: at level ``j`` the loops irrelevant to ``T`` are innermost; none set:
  a loop relevant to every tensor is.  In every layer kind cpmap knows, a dim is
  irrelevant to at most one tensor, so this one choice per level holds an optimal order
  (docs/solver.md, "Loop order"; tests compare it with all permutations).

Every access count of docs/cost-model.md is a sum of monomials (:mod:`.monomial`): its
logarithm is linear in the exponents, which gives the LP relaxation tangent cuts of
``exp``, and its value is an n-ary product of one small table per dim, so the objective
equals the evaluator's energy exactly (``exact``), or only the tangent cuts are kept
(``pwl``: a relaxation, never above the true cost).  Loop-order reuse removes a tensor's
irrelevant factors from its refill count, gated at the exponent level.

:class:`LayerModelBuilder` adds one concern per method, in the order :func:`build_model` calls them:
factor variables, fanout limits, required dataflows, symmetry breaking (:mod:`.symmetry`), tiles,
bypass, residency, capacities, loop order (:mod:`.order`), counts (:mod:`.counts`), dominance, objective.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

from ortools.sat.python import cp_model

from ..core.arch import Arch
from ..core.constraints import ResolvedConstraints
from ..core.factors import divisors, prime_factors
from ..core.problem import Problem, window_extent
from ..core.slots import Slot, slots_of
from .counts import AccessCounts
from .cycles import BandwidthCycles, attach_cycles
from .dominance import add_dominance
from .kit import CUT_RATIO, CUT_SCALE, LOG_SCALE, ModelKit, energy_scale
from .mesh import add_hop_energy, add_mesh, add_static_energy, mesh_energies, mesh_levels
from .monomial import Mono, prod
from .nodes import add_min_nodes
from .order import add_loop_order
from .patterns import add_pattern_bounds
from .residency import add_residency
from .sharing import held_tiles, option_literals
from .symmetry import add_symmetry_breaking


@dataclass
class LayerModel:
    """The built model and the handles needed to read a mapping back."""

    model: cp_model.CpModel
    slots: tuple[Slot, ...]
    exponents: dict  # (dim, slot) -> [(prime, IntVar)]; absent: factor 1
    keep: dict  # (level, tensor) -> BoolVar or bool
    inner: dict  # (level, tensor) -> BoolVar
    counts: dict  # ('reads'|'writes', level, tensor) -> IntVar; ('net', level) -> IntVar
    scale: int
    rounding: float
    constant_pj: float  # MAC energy, added outside the model
    objective: str
    encoding: str
    cycles: object = None
    """The evaluator's cycles (IntVar or int; :mod:`.cycles`); None in an energy model with
    bandwidth limits until :meth:`evaluator_cycles` adds them."""
    energy: object = None  # scaled energy without the MAC constant (LinearExpr)
    edp_quantum: int = 1  # edp: the objective is floor(scaled energy / quantum) * cycles
    compute_cycles: object = None  # product of the temporal factors (IntVar or int)
    cycles_exact: bool = True  # False: ``cycles`` is a relaxation (int64 limits), never above the evaluator's
    add_cycles: object = None  # adds the bandwidth-limited cycles once (energy models only)
    mesh_entries: dict = field(default_factory=dict)  # {level: [(literal, spatial entry)]} (:mod:`.mesh`)
    forward: tuple = ({}, {})  # ({(level, tensor): literal} of forwarding, of sharing) (:mod:`.forward`)

    def evaluator_cycles(self):
        """``cycles``, with the bandwidth-limited cycles added to the model on first use
        (the tie-break and the Pareto caps of an energy model need them; its own
        objective does not, so it is built without them)."""
        if self.add_cycles is not None:
            bw = self.add_cycles()
            self.cycles, self.cycles_exact, self.add_cycles = bw.expr, bw.exact, None
        return self.cycles

    def factor(self, value, d: str, s: Slot) -> int:
        """The loop factor of dim ``d`` in slot ``s`` under solver values ``value``."""
        return math.prod(p ** int(value(v)) for p, v in self.exponents.get((d, s), ()))


def build_model(problem: Problem, arch: Arch, objective: str = "energy",
                constraints: ResolvedConstraints | None = None, encoding: str = "exact",
                tangent_cuts: bool = True, break_symmetry: bool = True,
                prune_dominated: bool | None = None, prime_tables: bool = False) -> LayerModel:
    """Build the CP-SAT model whose objective is the evaluator's energy (scaled to integers;
    ``pwl``: a piecewise-linear under-approximation of it), the evaluator's cycles with
    bandwidth stalls ("delay") or a lower bound of their product with the energy ("edp").
    ``tangent_cuts=False`` leaves out the (valid, redundant for ``exact``) tangent cuts; ``prime_tables``:
    one table per monomial (:meth:`~cpmap.solve.kit.ModelKit.term`); ``break_symmetry=False`` keeps
    mirrored (:mod:`.symmetry`) and, unless ``prune_dominated`` is given, dominated (:mod:`.dominance`) mappings."""
    if encoding not in ("exact", "pwl"):
        raise ValueError(f"unknown encoding {encoding!r}")
    builder = LayerModelBuilder(problem, arch, constraints or ResolvedConstraints(), encoding)
    builder.kit.tangent_cuts, builder.kit.prime_tables = tangent_cuts, prime_tables
    builder.add_factor_variables()
    builder.add_fanout_limits()
    builder.add_dataflow()
    add_symmetry_breaking(builder, break_symmetry)
    builder.add_tiles()
    builder.add_bypass()
    builder.add_residency()
    builder.add_capacities()
    add_loop_order(builder)
    builder.add_counts()
    add_dominance(builder, objective, break_symmetry if prune_dominated is None else prune_dominated)
    return builder.finish(objective)


class LayerModelBuilder:
    """Builds one layer's model step by step (see the module docstring)."""

    def __init__(self, problem: Problem, arch: Arch, cons: ResolvedConstraints, encoding: str):
        self.problem, self.arch, self.cons, self.encoding = problem, arch, cons, encoding
        self.kit = ModelKit(problem)
        self.m = self.kit.m
        self.L = len(arch.levels)
        self.levels = arch.levels
        self.tensors = problem.tensor_names
        # dims as tuples in the problem's order (never sets): the model, and so CP-SAT's
        # search, must not depend on Python's per-process hash seed
        self.rel = {t.name: tuple(d for d in problem.dims if d in t.dims) for t in problem.tensors}
        self.all_dims = tuple(problem.dims)
        self.irr = {t: tuple(d for d in self.all_dims if d not in self.rel[t]) for t in self.tensors}
        for d in problem.dims:
            if sum(d in self.irr[t] for t in self.tensors) > 1:
                raise NotImplementedError(f"dim {d} is irrelevant to several tensors; the loop-order "
                                          "classes assume each dim is irrelevant to at most one")
        self.slots = slots_of(arch)
        self.top = dict.fromkeys(self.tensors, self.L - 1)  # each tensor's backing store (add_residency)
        self.meshes = mesh_levels(arch)  # levels with a mesh fanout: hop terms in the counts
        self.exponents: dict = {}
        self.log_terms: dict = {}  # slot -> [(LOG_SCALE * ln p, exponent var)]

    # ---- factor variables
    def add_factor_variables(self) -> None:
        """One exponent variable per (dim, prime, slot) the slot may hold; each prime's
        exponents sum to the dim's."""
        kit, m = self.kit, self.m
        for d, size in zip(self.problem.dims, self.problem.sizes):
            primes = kit.primes[d]
            for s in self.slots:
                cap = self._slot_cap(d, size, s)
                if cap == 1 or size == 1:
                    continue
                evs = []
                for p, k in primes.items():
                    hi = min(k, int(math.log(cap) / math.log(p) + 1e-9))
                    if hi == 0:
                        continue
                    v = m.new_int_var(0, hi, kit.name(f"e_{d}{p}_{s.level}{s.axis or ''}"))
                    kit.atoms["e", d, p, s] = v
                    evs.append((p, v))
                    self.log_terms.setdefault(s, []).append((round(math.log(p) * LOG_SCALE), v))
                if evs:
                    self.exponents[d, s] = evs
                    if cap < size:  # the factor itself must not exceed the cap
                        m.add(sum(round(math.log(p) * LOG_SCALE) * v for p, v in evs)
                              <= round(math.log(cap) * LOG_SCALE) + 16 * len(evs))
            for p, k in primes.items():
                terms = [kit.atoms["e", d, p, s] for s in self.slots if ("e", d, p, s) in kit.atoms]
                if not terms:
                    raise ValueError(f"dim {d} cannot be mapped: every slot is restricted to factor 1")
                m.add(sum(terms) == k)
                kit.full[d, p] = frozenset((("e", d, p, s), 1) for s in self.slots if ("e", d, p, s) in kit.atoms)

    def _slot_cap(self, d: str, size: int, s: Slot) -> int:
        """The largest factor of dim ``d`` slot ``s`` may hold."""
        if not s.spatial:
            return min(size, self.cons.max_factor.get((s.level, d), size))
        fanout = self.levels[s.level].fanout
        cap = min(size, fanout.axis_size(s.axis))
        allowed = self.cons.spatial_dims.get((s.level, s.axis))
        if allowed is not None and d not in allowed:
            cap = 1
        if (not fanout.reduction) and d not in self.rel["O"]:
            cap = 1  # partial sums cannot be added across this fanout
        return cap

    def add_fanout_limits(self) -> None:
        """Fanout sizes and the utilization floor, log-linearized (exact, see LOG_SCALE)."""
        m = self.m
        for s in self.slots:
            if s.spatial and s in self.log_terms:
                size = self.levels[s.level].fanout.axis_size(s.axis)
                terms = self.log_terms[s]
                m.add(sum(c * v for c, v in terms) <= round(math.log(size) * LOG_SCALE) + 16 * len(terms))
        if self.cons.min_utilization > 0:
            need = math.ceil(self.cons.min_utilization * self.arch.pes - 1e-9)
            sp = [cv for s in self.slots if s.spatial for cv in self.log_terms.get(s, [])]
            m.add(sum(c * v for c, v in sp) >= round(math.log(need) * LOG_SCALE) - 16 * len(sp) - 1)
        add_min_nodes(self)
        # symbolic building blocks: spatial and temporal factors per level, all dims or relevant ones
        L, at = self.L, self._at
        self.sp_all = {j: at(self.all_dims, lambda s, j=j: s.level == j and s.spatial) for j in range(L)}
        self.sp_rel = {(t, j): at(self.rel[t], lambda s, j=j: s.level == j and s.spatial)
                       for t in self.tensors for j in range(L)}
        self.t_all = {j: at(self.all_dims, lambda s, j=j: s.level == j and not s.spatial) for j in range(L)}
        self.t_rel = {(t, j): at(self.rel[t], lambda s, j=j: s.level == j and not s.spatial)
                      for t in self.tensors for j in range(L)}
        self.cycles_m = prod(self.t_all.values())

    def add_dataflow(self) -> None:
        """Required dataflows: each required dim's factor on its axis is > 1, i.e. some
        prime exponent of it in that slot is >= 1 (exact).  A dim with no exponent there
        (the axis or a fanout without reduction cannot take it) makes the model
        infeasible; :func:`cpmap.core.constraints.dataflow_conflict` says why."""
        kit = self.kit
        for (level, axis), ds in self.cons.required_dims.items():
            slot = next(s for s in self.slots if s.level == level and s.axis == axis)
            for d in ds:
                evs = [kit.atoms["e", d, p, slot] for p in kit.primes[d] if ("e", d, p, slot) in kit.atoms]
                if evs:
                    self.m.add(sum(evs) >= 1)
                else:
                    self.m.add_bool_or([])  # the empty clause: no mapping

    def _at(self, dims, pred) -> Mono:
        return self.kit.mono(dims, pred, self.slots)

    def _exps_at(self, d, pred) -> dict:
        kit = self.kit
        return {p: [kit.atoms["e", d, p, s] for s in self.slots if pred(s) and ("e", d, p, s) in kit.atoms]
                for p in kit.primes[d]}

    def temporal_exps(self, dims, j) -> list:
        """The exponent variables of ``dims`` in level j's temporal slot."""
        kit, slot = self.kit, Slot(j)
        return [kit.atoms["e", d, p, slot] for d in dims for p in kit.primes[d] if ("e", d, p, slot) in kit.atoms]

    # ---- tiles
    def add_tiles(self) -> None:
        """The tile of every tensor at every level, as a monomial (windows through exact
        tables with a log column)."""
        self.S = {(t.name, i): self.tile_mono(t, i) for t in self.problem.tensors for i in range(self.L)}

    def tile_mono(self, t, i, below=None, tag=None) -> Mono:
        """The tile of ``t`` over the slots ``below`` accepts (default: levels <= ``i``);
        ``tag`` names its window tables when ``below`` is not the default."""
        below = below or (lambda s, i=i: s.level <= i)
        mono = Mono()
        for k, ax in enumerate(t.axes):
            if len(ax.terms) == 1:
                mono = mono * self._at([ax.terms[0][0]], below)
                continue
            key = (t.name, i, k) if tag is None else (t.name, tag, k)
            if key not in self.kit.windows and not self._add_window(key, ax, below):
                (_, c0), (_, c1) = ax.terms
                mono = mono * Mono(window_extent(c0, c1, 1, 1))
                continue
            mono = mono * Mono(1, {}, (key,))
        return mono

    def _add_window(self, key, ax, below) -> bool:
        """The window extent of axis ``ax`` over the slots ``below`` accepts as a table over
        the exponent sums of its two dims; False when both dims are 1 there (a constant)."""
        kit, m, slots = self.kit, self.m, self.slots
        (d0, c0), (d1, c1) = ax.terms
        e0, e1 = self._exps_at(d0, below), self._exps_at(d1, below)
        p0 = [p for p in kit.primes[d0] if e0[p]]
        p1 = [p for p in kit.primes[d1] if e1[p]]
        if not p0 and not p1:
            return False

        def sums(d, ps):
            return [kit.sum_var(d, p, Counter({("e", d, p, s): 1 for s in slots
                                                if below(s) and ("e", d, p, s) in kit.atoms})) for p in ps]

        s0, s1 = sums(d0, p0), sums(d1, p1)
        rows = []
        for a0 in divisors(math.prod(p ** kit.primes[d0][p] for p in p0)):
            f0 = prime_factors(a0)
            for a1 in divisors(math.prod(p ** kit.primes[d1][p] for p in p1)):
                f1 = prime_factors(a1)
                w = window_extent(c0, c1, a0, a1)
                rows.append([f0.get(p, 0) for p in p0] + [f1.get(p, 0) for p in p1]
                            + [w, math.floor(math.log(w) * CUT_SCALE)])
        ws = sorted({r[-2] for r in rows})
        tname, where = key[0], key[1]
        wv = m.new_int_var_from_domain(cp_model.Domain.from_values(ws), kit.name(f"win_{tname}{where}"))
        lw = m.new_int_var(0, max(r[-1] for r in rows), kit.name(f"lnwin_{tname}{where}"))
        m.add_allowed_assignments(s0 + s1 + [wv, lw], rows)
        kit.windows[key] = (wv, lw, max(ws))
        return True

    # ---- bypass and capacities
    def add_bypass(self) -> None:
        """``keep[i, T]``: a literal where the level may choose, else a fixed bool."""
        self.keep = {}
        for i, lv in enumerate(self.levels):
            for t in self.tensors:
                if i == self.L - 1:
                    self.keep[i, t] = True
                elif i in self.cons.keeps:
                    self.keep[i, t] = t in self.cons.keeps[i]
                elif t not in lv.keeps:
                    self.keep[i, t] = False
                else:
                    self.keep[i, t] = self.m.new_bool_var(f"keep_{lv.name}_{t}")

    def add_residency(self) -> None:
        """Resident tensors (docs/cost-model.md section 11): :func:`.residency.add_residency`."""
        add_residency(self)

    def add_capacities(self) -> None:
        """Exact integer tile sizes against each capacity (tangent cuts give the LP the
        log view)."""
        kit, m = self.kit, self.m
        self.fwd, self.share = option_literals(self)  # forwarding and sharing (:mod:`.forward`)
        for i, lv in enumerate(self.levels):
            if lv.unbounded:
                continue
            kept = [(t, self.keep[i, t]) for t in self.tensors if self.keep[i, t] is not False]
            tiles = {t: kit.term(self.S[t, i], f"tile_{t}{i}") for t, _ in kept}
            for tt in tiles.values():
                kit.cut(tt, CUT_RATIO)
            tiles = held_tiles(self, i, tiles)  # buffer sharing: ceil(tile / g) of a shared tensor
            if lv.capacity is not None:
                m.add(sum(kit.gated(tiles[t], k, f"cap_{lv.name}{t}") for t, k in kept) <= lv.capacity)
                continue
            for t, k in kept:
                lim = lv.partition(t)
                if k is True:
                    m.add(tiles[t].expr <= lim)
                else:
                    m.add(tiles[t].expr <= lim).only_enforce_if(k)

    # ---- access counts (docs/cost-model.md section 3)
    def add_counts(self) -> None:
        """Every access count and network word count as a model variable (:mod:`.counts`)."""
        counts = AccessCounts(self)
        counts.add_terms()
        self.counts, self.his = counts.materialize()
        self.count_terms = counts.terms
        L, tensors = self.L, self.tensors
        self.reads = {(i, t): self.counts.get(("reads", i, t), 0) for i in range(L) for t in tensors}
        self.writes = {(i, t): self.counts.get(("writes", i, t), 0) for i in range(L) for t in tensors}
        self.net = {j: self.counts.get(("net", j), 0) for j in range(L)}
        self.mesh = add_mesh(self)  # word-hops and channel loads (nothing for a flat architecture)

    # ---- objective
    def finish(self, objective: str) -> LayerModel:
        """Scale the energies to integers, set the objective, return the model."""
        kit, m, levels = self.kit, self.m, self.levels
        energies = [lv.read_pj for lv in levels] + [lv.write_pj for lv in levels] + \
            [lv.fanout.energy_pj for lv in levels if lv.fanout is not None] + mesh_energies(self.arch)
        K, rounding = energy_scale(energies)
        K *= self.mesh.scale  # forwarding's hops are multiples of 1/scale words (:mod:`.forward`)
        obj = 0
        obj_hi = 0  # an upper bound of obj (edp sizes its quantum with it)
        for i, lv in enumerate(levels):
            cr, cw = math.floor(lv.read_pj * K + 1e-9), math.floor(lv.write_pj * K + 1e-9)
            for t in self.tensors:
                obj += cr * self.reads[i, t] + cw * self.writes[i, t]
                obj_hi += cr * self.his.get(("reads", i, t), 0) + cw * self.his.get(("writes", i, t), 0)
            if lv.fanout is not None:
                cn = math.floor(lv.fanout.energy_pj * K + 1e-9)
                obj += cn * self.net[i]
                obj_hi += cn * self.his.get(("net", i), 0)
        if objective == "energy":  # redundant: propagation's bound on traffic behind unfixed keeps
            add_pattern_bounds(self, K, obj)
        obj, obj_hi = add_hop_energy(self, obj, obj_hi, K)
        cyc = kit.term(self.cycles_m, "cycles")
        layer_model = LayerModel(model=m, slots=self.slots, exponents=self.exponents, keep=self.keep,
                                 inner=self.inner, counts=self.counts, scale=K, rounding=rounding,
                                 constant_pj=self.problem.macs * self.arch.mac_pj, objective=objective,
                                 encoding=self.encoding, cycles=cyc.expr, energy=obj, compute_cycles=cyc.expr)
        cycles = attach_cycles(self, layer_model, cyc)
        obj, obj_hi = add_static_energy(self, layer_model, obj, obj_hi, K, cycles.ub)
        layer_model.energy, layer_model.mesh_entries, layer_model.forward = obj, self.mesh.entries, (self.fwd, self.share)
        if objective == "energy":
            m.minimize(obj)
        elif objective == "delay":
            kit.cut(cyc, CUT_RATIO)
            m.minimize(cycles.expr)
        elif objective == "edp":
            layer_model.edp_quantum = self._edp_objective(obj, obj_hi, cycles, layer_model.constant_pj, K)
        else:
            raise ValueError(f"unknown objective {objective!r}")
        return layer_model

    def _edp_objective(self, obj, obj_hi, cycles: BandwidthCycles, constant_pj, K) -> int:
        """floor(scaled total energy / q) * cycles, q a power of two keeping the product
        inside int64: a lower bound on energy x cycles.  Returns q."""
        m = self.m
        const_k = math.floor(constant_pj * K + 1e-9)
        e_hi = const_k + obj_hi
        q = 1
        while (e_hi // q + 1) * cycles.ub >= 2**62:
            q *= 2
        eq = m.new_int_var(0, e_hi // q, "energy_q")
        m.add(q * eq <= obj + const_k)
        m.add(q * eq >= obj + const_k - (q - 1))
        cyc_v = m.new_int_var(1, cycles.ub, "cycles")
        m.add(cyc_v == cycles.expr)
        edp = m.new_int_var(0, (e_hi // q) * cycles.ub, "edp")
        m.add_multiplication_equality(edp, [eq, cyc_v])
        m.minimize(edp)
        return q

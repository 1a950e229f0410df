"""Mesh NoC hops, channel loads and static energy in the layer model (docs/solver.md,
"Mesh hops and static energy"; docs/cost-model.md section 10).

The evaluator's word-hops of a mesh fanout ``j`` are, per tensor and kind of transfer
(fill, reduced write-back, read-back), ``w * links``: ``w`` the words per node (per
reduction group for read-backs), a sum of gated monomials over loops *other* than the
mesh's own (:meth:`AccessCounts._hop`, materialized as one count variable), and
``links`` the links of the groups' XY trees, a constant of the mesh's *spatial entry*:
the factors of the dims on each axis and their order (mixed radix, first loop most
significant), which fix which node holds which index (:func:`cpmap.cost.noc.mesh_plan`).

So the model enumerates every spatial entry the mesh slot can hold (per axis every
ordered sequence of dims with factors > 1 fitting the axis; across the axes every pair
whose factors divide the dims), one literal per entry, exactly one true, channelled to
the exponent variables of the mesh's slots; ``links = sum(literal * links of its
entry)`` is linear and ``hops = w * links`` one product, exact.  Channel loads are
``sum(w * groups served by the channel)`` the same way, and enter the cycles like a
level bandwidth (:mod:`.cycles`).  The read-back realizes the chosen entry's order.

A mesh whose entries exceed :data:`MAX_ENTRIES` gets no hop term and no channel limit:
a relaxation (the objective never exceeds the evaluator's energy; the gap is certified
by re-scoring and the status rule decides).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

from ..core.arch import Arch
from ..core.factors import divisors, prime_factors
from ..core.slots import Slot
from ..cost.noc import Traffic, mesh_plan
from .forward import entry_and, forward_scale, scaled
from .kit import CUT_RATIO

MAX_ENTRIES = 5000
"""Spatial entries of one mesh enumerated at most (4x4 meshes and AlexNet layers: <= a few
hundred); beyond it the mesh is relaxed (no hops, no channel limit)."""

KINDS = ("fill", "reduce", "readback", "remote")


def mesh_levels(arch: Arch) -> tuple[int, ...]:
    """Levels whose fanout is a mesh."""
    return tuple(j for j, lv in enumerate(arch.levels) if lv.fanout is not None and lv.fanout.mesh)


def mesh_energies(arch: Arch) -> list[float]:
    """The per-word-hop and per-cycle energies the objective scales to integers (empty for
    a flat architecture, so its scale is unchanged)."""
    out = [arch.levels[j].fanout.hop_energy_pj for j in mesh_levels(arch)]
    return out + ([arch.static_pj_per_cycle] if arch.static_pj_per_cycle else [])


@dataclass
class MeshTerms:
    """What the mesh adds to a layer model: per mesh level its entry literals (for the
    read-back), its word-hops expression and upper bound, and its channel loads."""

    entries: dict = field(default_factory=dict)
    """{level: [(literal, spatial entry)]}."""
    hops: dict = field(default_factory=dict)
    """{level: (word-hops expression, upper bound)}."""
    loads: dict = field(default_factory=dict)
    """{level: [(channel words expression, upper bound)]} (channels with a bandwidth),
    in 1/scale words like the hops."""
    exact: bool = True
    scale_of: dict = field(default_factory=dict)
    """{level: its hops and loads are in 1/scale word-hops and words} (:mod:`.forward`)."""
    scale: int = 1
    """lcm of scale_of: the objective's scale K is multiplied by it."""


def spatial_entries(b, j: int) -> list[tuple]:
    """Every spatial entry of mesh level ``j`` the model's exponent variables allow, in
    the mapping format: ((axis, ((dim, factor), ...)), ...), axes without loops left out."""
    fan = b.levels[j].fanout
    per_axis = [_axis_sequences(b, j, ax, n) for ax, n in fan.axes]
    size, out = b.problem.size, []
    for seqs in itertools.product(*per_axis):
        total: dict = {}
        for seq in seqs:
            for d, f in seq:
                total[d] = total.get(d, 1) * f
        if all(size[d] % f == 0 for d, f in total.items()):
            out.append(tuple((ax, seq) for (ax, _), seq in zip(fan.axes, seqs) if seq))
        if len(out) > MAX_ENTRIES:
            return []
    return out


def _axis_sequences(b, j: int, ax: str, n: int) -> list[tuple]:
    """Ordered sequences of distinct dims with factors > 1 on one axis, product <= n."""
    slot = next(s for s in b.slots if s.level == j and s.axis == ax)
    options = {d: [f for f in divisors(b.problem.size[d]) if 1 < f <= n and _fits(b, d, slot, f)]
               for d in b.all_dims if (d, slot) in b.exponents}
    out: list[tuple] = [()]

    def grow(seq, room):
        for d, fs in options.items():
            if any(d == e for e, _ in seq):
                continue
            for f in fs:
                if f <= room:
                    out.append(seq + ((d, f),))
                    grow(seq + ((d, f),), room // f)

    grow((), n)
    return out


def _fits(b, d: str, slot: Slot, f: int) -> bool:
    """Whether (d, slot) has an exponent variable for every prime of f (an entry the
    other constraints rule out only gets its literal fixed false)."""
    evs = dict(b.exponents[d, slot])
    return all(p in evs for p in prime_factors(f))


def add_mesh(b) -> MeshTerms:
    """The entry literals, word-hops and channel loads of every mesh of builder ``b``
    (after its counts)."""
    terms = MeshTerms()
    dims = tuple((t.name, frozenset(t.dims)) for t in b.problem.tensors)
    for j in b.meshes:
        entries = spatial_entries(b, j)
        if not entries:
            terms.exact = False
            continue
        _mesh_terms(b, j, entries, dims, terms)
    return terms


def _mesh_terms(b, j: int, entries: list, dims: tuple, terms: MeshTerms) -> None:
    """Mesh ``j``'s entry literals, word-hops and channel loads (in 1/scale units for access
    forwarding and buffer sharing, :mod:`.forward`) into ``terms``."""
    lv = b.levels[j]
    plans = [mesh_plan(lv.fanout, lv.memory, e, dims) for e in entries]
    options = {}  # {tensor: [(y literals per entry, the entries' plans with the option)]}
    for lits_of, key in ((b.fwd, "forward"), (b.share, "share")):
        chosen = frozenset(t for t in b.tensors if (j, t) in lits_of)
        if chosen:
            with_option = [mesh_plan(lv.fanout, lv.memory, e, dims, **{key: chosen}) for e in entries]
            for t in chosen:
                options.setdefault(t, []).append((lits_of[j, t], with_option))
    moved = [getattr(p, kind)[t] for t, opts in options.items() for _, ps in opts for p in ps
             for kind in ("fill", "remote") if t in getattr(p, kind)]
    scale, exact = forward_scale(moved, lv.memory.bandwidth is not None)
    terms.exact = terms.exact and exact
    terms.scale_of[j], terms.scale = scale, math.lcm(terms.scale, scale)
    lits = _choose(b, j, entries)
    terms.entries[j] = list(zip(lits, entries))
    options = {t: [(entry_and(b, lits, lit), ps) for lit, ps in opts] for t, opts in options.items()}
    none = Traffic(0, (0,) * len(plans[0].channels), 1)
    hops, hi, loads = [], 0, {}
    for t in b.tensors:
        for kind in KINDS:
            w = b.counts.get((f"hop_{kind}", j, t), 0)
            if isinstance(w, int) and w == 0:
                continue
            w_hi = w if isinstance(w, int) else b.his[f"hop_{kind}", j, t]
            traffic = [getattr(p, kind).get(t, none) for p in plans]
            alts = [(ys, [getattr(p, kind).get(t, none) for p in ps]) for ys, ps in options.get(t, ())
                    if kind in ("fill", "remote")]

            def table(get, traffic=traffic, alts=alts):
                """(values per entry, (y literal, value with the option minus without) pairs)."""
                values = [scaled(get(tr), scale) for tr in traffic]
                return values, tuple((y, scaled(get(o), scale) - v) for ys, opt in alts
                                     for y, o, v in zip(ys, opt, values))

            z, z_hi = _times(b, w, w_hi, lits, *table(lambda tr: tr.links), f"hops_{kind}{t}")
            hops.append(z)
            hi += z_hi
            for ch in range(len(plans[0].channels)) if lv.memory.bandwidth is not None else ():
                z, z_hi = _times(b, w, w_hi, lits, *table(lambda tr, ch=ch: tr.per_channel[ch]), f"load{ch}")
                e, e_hi = loads.get(ch, (0, 0))
                loads[ch] = (e + z, e_hi + z_hi)
    terms.hops[j] = (sum(hops), hi)
    terms.loads[j] = [loads[ch] for ch in sorted(loads)]


def _choose(b, j: int, entries: list[tuple]) -> list:
    """One literal per entry, exactly one true, each prime exponent of each mesh slot
    equal to the chosen entry's (linear, exact)."""
    m = b.m
    lits = [m.new_bool_var(b.kit.name(f"mesh{j}_{k}")) for k in range(len(entries))]
    m.add_exactly_one(lits)
    for s in b.slots:
        if s.level != j or not s.spatial:
            continue
        for d in b.all_dims:
            for p, v in b.exponents.get((d, s), ()):
                coef = [prime_factors(dict(dict(e).get(s.axis, ())).get(d, 1)).get(p, 0) for e in entries]
                m.add(v == sum(c * lit for c, lit in zip(coef, lits) if c))
    return lits


def _times(b, w, w_hi: int, lits, values: list[int], extra, label: str):
    """(w * (sum(literal * value) + sum(y * delta) over ``extra``), upper bound): a
    constant-times or one product variable."""
    # extra: per option, one (y, delta) per entry (at most one y is true: one entry, one option)
    options = values + [values[k % len(values)] + d for k, (_, d) in enumerate(extra)]
    extra = [(y, d) for y, d in extra if d]
    top = max(options)
    if top == 0:
        return 0, 0
    m, kit = b.m, b.kit
    if len(set(options)) == 1:
        return top * w, top * w_hi
    x = m.new_int_var(min(options), top, kit.name(label))
    m.add(x == sum(v * lit for v, lit in zip(values, lits) if v) + sum(d * y for y, d in extra))
    if isinstance(w, int):
        return w * x, w * top
    z = m.new_int_var(0, w_hi * top, kit.name(label))
    m.add_multiplication_equality(z, [w, x])
    return z, w_hi * top


def add_hop_energy(b, obj, obj_hi, K: int):
    """Add word-hops x hop energy (scaled by ``K``) to the objective; returns it and its
    upper bound.  Static energy is added by :func:`add_static_energy` once cycles exist."""
    for j, (expr, hi) in b.mesh.hops.items():
        c = math.floor(b.levels[j].fanout.hop_energy_pj * (K // b.mesh.scale_of[j]) + 1e-9)
        obj, obj_hi = obj + c * expr, obj_hi + c * hi
    return obj, obj_hi


def add_static_energy(b, layer_model, obj, obj_hi, K: int, cycles_ub: int):
    """static pJ per cycle x the evaluator's cycles (bandwidth and channel limits
    included), scaled by ``K``."""
    c = math.floor(b.arch.static_pj_per_cycle * K + 1e-9)
    if not c:
        return obj, obj_hi
    # the compute cycles' tangent cuts (as the delay objective has): the LP then sees
    # cycles >= MACs / PEs used in the log domain, which the product constraint alone lacks
    b.kit.cut(b.kit.term(b.cycles_m, "cycles"), CUT_RATIO)
    return obj + c * layer_model.evaluator_cycles(), obj_hi + c * cycles_ub

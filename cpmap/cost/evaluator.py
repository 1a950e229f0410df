"""The exact analytical evaluator: the ground truth of cpmap.

Implements docs/cost-model.md.  Every count is an integer computed in closed form from the
mapping's loop factors; `tests/oracle.py` checks them against a literal walk of the nest.
Searchers call this in tight loops, so per-(problem, arch) constants are computed once by
:class:`Evaluator` and a single pass over the levels does the rest.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache

from ..core.arch import Arch, bandwidth_cycles
from ..core.errors import MappingError
from ..core.mapping import Mapping
from ..core.problem import TENSORS, Problem, window_extent
from ..core.residency import resident_levels, resident_mapping_errors
from .noc import HopTally, exact_number, mesh_plan

COMPAT = ("timeloop",)
"""Counting modes besides cpmap's own (docs/cost-model.md, "Timeloop-compatible counting")."""


def bounding_box(stride: int, dilation: int, p: int, r: int) -> int:
    """Rows spanned by ``p`` output rows and ``r`` filter rows, first to last: Timeloop's
    tile of a sliding-window axis, rows never touched included."""
    return (p - 1) * stride + (r - 1) * dilation + 1


@dataclass(frozen=True)
class Result:
    """The cost of one mapping.  Energies in pJ, counts in words, time in cycles."""

    valid: bool
    errors: tuple[str, ...]
    macs: int
    energy_pj: float
    energy_breakdown: dict
    """{level: {tensor: pJ}}, plus 'mac': pJ and 'network': {fanout: pJ}."""
    accesses: dict
    """{level: {tensor: {'reads': words, 'writes': words}}}, totals over instances."""
    network_words: dict
    """{fanout: words crossing it, counted per child}."""
    tiles: dict
    """{level: {tensor: words per instance}} for the tensors each level keeps."""
    cycles: int
    compute_cycles: int
    utilization: float
    """Used PEs / PEs."""
    noc: dict = field(default_factory=dict)
    """{mesh fanout: {'nodes_used', 'hops': {tensor: word-hops}, 'energy_pj',
    'channel_words': words through each channel, all instances}}; empty without a mesh."""
    static_pj: float = 0.0
    """Static energy, architecture's pJ per cycle x cycles (included in energy_pj)."""

    def to_json(self) -> dict:
        extra = {"noc": self.noc} if self.noc else {}
        if self.static_pj:
            extra["static_pj"] = self.static_pj
        return {
            "valid": self.valid,
            "errors": list(self.errors),
            "macs": self.macs,
            "energy_pj": self.energy_pj,
            "energy_breakdown": self.energy_breakdown,
            "accesses": self.accesses,
            "network_words": self.network_words,
            "tiles": self.tiles,
            "cycles": self.cycles,
            "compute_cycles": self.compute_cycles,
            "utilization": self.utilization,
        } | extra


class _Nest:
    """A mapping in index form, per level innermost first (internal to :class:`Evaluator`)."""

    __slots__ = ("compute_cycles", "forward", "irr", "keeps", "mcast", "shared", "temporal", "tiles", "used")

    def __init__(self, temporal, keeps, used, irr, mcast, tiles, compute_cycles, forward, shared):
        self.temporal, self.keeps, self.used, self.forward = temporal, keeps, used, forward
        self.shared = shared  # per level: the tensors its buffers share across the mesh above it
        self.irr, self.mcast, self.tiles, self.compute_cycles = irr, mcast, tiles, compute_cycles


class Evaluator:
    """Evaluates mappings of one problem on one architecture.  ``compat="timeloop"``
    counts as timeloop-model v3.0.x does (bounding-box window tiles; O read-backs reach
    every child of a reduction group); the default is cpmap's own model."""

    def __init__(self, problem: Problem, arch: Arch, compat: str | None = None):
        if compat is not None and compat not in COMPAT:
            raise ValueError(f"unknown compat mode {compat!r}; expected one of {', '.join(COMPAT)}")
        self.problem, self.arch, self.compat = problem, arch, compat
        self.meshes = [j for j, lv in enumerate(arch.levels) if lv.fanout is not None and lv.fanout.mesh]
        if compat is not None and arch.beyond_flat:
            raise ValueError(f"compat mode {compat} has no mesh hops or static energy; evaluate without it")
        self.tensor_dims = tuple((t.name, frozenset(t.dims)) for t in problem.tensors)
        self.readback_to_all = compat == "timeloop"
        if compat == "timeloop":
            self.tile_words = self._bounding_box_words
        self.dim_index = {d: k for k, d in enumerate(problem.dims)}
        self.tensors = problem.tensor_names
        self.nlev = len(arch.levels)
        # relevance per tensor as a tuple of bools over dim indices
        self.rel = {t.name: tuple(d in t.dims for d in problem.dims) for t in problem.tensors}
        # axes per tensor in index form: (d0, c0, d1, c1) with d1 = -1 for single-dim axes
        self.axes = {
            t.name: tuple(
                (self.dim_index[a.terms[0][0]], a.terms[0][1], -1, 0) if len(a.terms) == 1 else
                (self.dim_index[a.terms[0][0]], a.terms[0][1], self.dim_index[a.terms[1][0]], a.terms[1][1])
                for a in t.axes)
            for t in problem.tensors
        }
        self.macs = problem.macs
        # {tensor: level}: tensors whose backing store is an on-chip level (section 11)
        self.resident = resident_levels(problem, arch)
        # per-call constants of the arch, hoisted: searchers call evaluate in tight loops
        self.fanned = [(j, lv.fanout) for j, lv in enumerate(arch.levels) if lv.fanout is not None]
        self.pes = arch.pes
        self.ones = dict.fromkeys(self.tensors, 1)  # sharing factor of no unroll; never mutated
        self.multicasts = [lv.fanout is not None and lv.fanout.multicast for lv in arch.levels]
        self.top_must_keep = frozenset(problem.tensor_names) - set(self.resident)

    def tile_words(self, tensor: str, ext: list[int]) -> int:
        """Distinct elements of ``tensor`` touched when dim k ranges over ext[k] values."""
        n = 1
        for d0, c0, d1, c1 in self.axes[tensor]:
            n *= ext[d0] if d1 < 0 else window_extent(c0, c1, ext[d0], ext[d1])
        return n

    def _bounding_box_words(self, tensor: str, ext: list[int]) -> int:
        """Elements of the bounding box of ``tensor``'s projection (compat mode)."""
        n = 1
        for d0, c0, d1, c1 in self.axes[tensor]:
            n *= ext[d0] if d1 < 0 else bounding_box(c0, c1, ext[d0], ext[d1])
        return n

    def evaluate(self, mapping: Mapping, *, trusted: bool = False) -> Result:
        """The cost of ``mapping``.  ``trusted=True`` skips the structural check
        (:meth:`Mapping.structural_errors`): only for mappings built to be structurally
        valid, such as a searcher's decoded genomes; a malformed one then gives garbage or
        an exception instead of a :class:`MappingError`."""
        if not trusted:
            errs = mapping.structural_errors(self.problem, self.arch)
            if errs:
                raise MappingError(errs)
        nest = self._nest(mapping)
        errors = self._validate(mapping, nest.keeps, nest.irr, nest.tiles)
        reads = [dict.fromkeys(self.tensors, 0) for _ in range(self.nlev)]
        writes = [dict.fromkeys(self.tensors, 0) for _ in range(self.nlev)]
        net = [0] * self.nlev  # words crossing the fanout of level j
        levels = self.arch.levels
        tally = HopTally({j: mesh_plan(levels[j].fanout, levels[j].memory, mapping.levels[j].spatial,
                                       self.tensor_dims, mapping.levels[j].forward, mapping.levels[j].share)
                          for j in self.meshes}) if self.meshes else None
        for t in self.tensors:
            top = self.resident.get(t, self.nlev - 1)  # the tensor's backing store
            keepers = [i for i in range(top + 1) if t in nest.keeps[i]]
            if keepers and keepers[-1] == top:  # else reported by _validate
                self._count_tensor(t, keepers, nest, reads, writes, net, tally)
        return self._result(nest, reads, writes, net, errors, tally)

    def _nest(self, mapping: Mapping) -> _Nest:
        """The loops of ``mapping`` in index form and what follows from them alone: tile
        extents, used instances, sharing factors and tile sizes."""
        L, D, di, tensors, rel = self.nlev, len(self.problem.dims), self.dim_index, self.tensors, self.rel
        # factor-1 loops dropped: they have no effect
        temporal = [[(di[d], f) for d, f in lm.temporal if f > 1] for lm in mapping.levels]
        spatial = [[(di[d], f) for _, loops in lm.spatial for d, f in loops if f > 1] for lm in mapping.levels]
        keeps = [lm.keeps for lm in mapping.levels]
        # tile extents: level i covers its own temporal loops, its fanout's spatial loops, and below
        ext: list[list[int]] = []
        cur = [1] * D
        for i in range(L):
            cur = cur[:]
            for d, f in temporal[i]:
                cur[d] *= f
            for d, f in spatial[i]:
                cur[d] *= f
            ext.append(cur)
        # used instances of level i = spatial factors of fanouts above i
        used = [1] * L
        for i in range(L - 2, -1, -1):
            used[i] = used[i + 1] * math.prod(f for _, f in spatial[i + 1])
        # irrelevant spatial factor per fanout (index = level owning the fanout) and tensor
        ones = self.ones
        irr = [{t: math.prod(f for d, f in sp if not rel[t][d]) for t in tensors} if sp else ones for sp in spatial]
        # access forwarding, buffer sharing: one memory read per group of nodes needing a tile
        mcast = []
        for j in range(L):
            grouped = mapping.levels[j].forward | mapping.levels[j].share
            mcast.append(irr[j] if self.multicasts[j] else
                         {t: irr[j][t] if t in grouped else 1 for t in tensors} if grouped else ones)
        # in W, I, O order, not the frozenset's (hash-seed dependent): the result JSON is byte-stable
        tiles = [{t: self.tile_words(t, ext[i]) for t in TENSORS if t in keeps[i]} for i in range(L)]
        for t, r in self.resident.items():  # a resident tensor's share occupies each instance whole
            if t in tiles[r]:
                share = ext[L - 1][:]
                for j in range(r + 1, L):  # the spatial loops above r spread it over the instances
                    for d, f in spatial[j]:
                        share[d] //= f
                tiles[r][t] = self.tile_words(t, share)
        compute_cycles = math.prod(f for loops in temporal for _, f in loops)
        return _Nest(temporal, keeps, used, irr, mcast, tiles, compute_cycles, [lm.forward for lm in mapping.levels],
                     [lm.share for lm in mapping.levels[1:]] + [frozenset()])

    def _count_tensor(self, t: str, keepers: list[int], nest: _Nest, reads, writes, net, tally) -> None:
        """Add tensor ``t``'s fills, read-backs, write-backs, MAC accesses and network words
        (docs/cost-model.md section 3) to the counts, in place; with a mesh, their hops
        (section 10) to ``tally``."""
        used, tiles, temporal = nest.used, nest.tiles, nest.temporal
        r = self.rel[t]
        share = nest.irr if t == "O" else nest.mcast
        # versions F and distinct tiles U of each kept level's tile (1, 1 at the outermost)
        versions = {i: self._versions(temporal, i, r) for i in keepers[:-1]}
        versions[keepers[-1]] = (1, 1)  # the backing store: the outermost level or a resident one
        to_all = self.readback_to_all and t == "O"  # compat: every child of a group gets the read-back
        for n, i in enumerate(keepers[:-1]):
            p = keepers[n + 1]
            F, U = versions[i]
            S = tiles[i][t]
            sent = used[i] * F * S  # words leaving/entering the children in total
            between = range(i + 1, p + 1)
            g = math.prod(share[j][t] for j in between)
            back = used[i] * (F - U) * S // g if t == "O" else 0
            # buffer sharing: the g_s nodes of a group hold one copy, each word written once
            g_s = nest.irr[i + 1][t] if t in nest.shared[i] else 1
            if t == "O":
                writes[p][t] += sent // g
                reads[p][t] += back
                writes[i][t] += back * g if to_all else back
            else:
                writes[i][t] += sent // g_s
                reads[p][t] += sent // g
                if tally is not None and t in nest.shared[p]:  # read where the word lives
                    tally.add(p + 1, t, "remote", sent // g)
            below = 1
            for j in between:
                net[j] += sent // below // (g_s if j == i + 1 else 1) + (back * g // below if to_all else back)
                if tally is not None:
                    tally.add(j, t, "reduce" if t == "O" else "fill", sent // below)
                    tally.add(j, t, "readback", back)
                below *= share[j][t]
        # MAC accesses at the innermost keeper k
        k = keepers[0]
        below = 1
        for j in range(1, k + 1):
            net[j] += self.macs // below
            if tally is not None:
                tally.add(j, t, "reduce" if t == "O" else "fill", self.macs // below)
            below *= share[j][t]
        if t == "O":
            updates = self.macs // below
            F, U = versions[k]
            S = tiles[k][t]
            g_up = (math.prod(share[j][t] for j in range(k + 1, keepers[1] + 1))
                    if len(keepers) > 1 and not self.readback_to_all else 1)
            fresh = used[k] * F * S - used[k] * (F - U) * S // g_up
            writes[k][t] += updates
            reads[k][t] += updates - fresh
        else:
            reads[k][t] += self.macs // below
            if tally is not None and t in nest.shared[k]:
                tally.add(k + 1, t, "remote", self.macs // below)

    def _result(self, nest: _Nest, reads, writes, net, errors: list[str], tally) -> Result:
        """Energy (pJ), cycles and the report structures from the counts."""
        arch, tensors, used = self.arch, self.tensors, nest.used
        breakdown: dict = {}
        accesses: dict = {}
        total = 0.0
        cycles = nest.compute_cycles
        for i, lv in enumerate(arch.levels):
            r, w, r_pj, w_pj = reads[i], writes[i], lv.read_pj, lv.write_pj
            e = {t: r[t] * r_pj + w[t] * w_pj for t in tensors}
            breakdown[lv.name] = e
            total += sum(e.values())
            accesses[lv.name] = {t: {"reads": r[t], "writes": w[t]} for t in tensors}
            if lv.read_bandwidth is not None:
                cycles = max(cycles, bandwidth_cycles(sum(r.values()), used[i], lv.read_bandwidth))
            if lv.write_bandwidth is not None:
                cycles = max(cycles, bandwidth_cycles(sum(w.values()), used[i], lv.write_bandwidth))
        fanned = self.fanned
        network_words = {fan.name: net[j] for j, fan in fanned}
        network_pj = {fan.name: net[j] * fan.energy_pj for j, fan in fanned}
        mac_pj = self.macs * arch.mac_pj
        breakdown["mac"] = mac_pj
        breakdown["network"] = network_pj
        total += mac_pj + sum(network_pj.values())
        noc: dict = {}
        for j, hops in (tally.hops.items() if tally is not None else ()):
            fan, memory = arch.levels[j].fanout, arch.levels[j].memory
            pj = float(sum(hops.values()) * fan.hop_energy_pj)
            noc[fan.name] = {"nodes_used": tally.plans[j].nodes_used, "energy_pj": pj,
                             "hops": {t: exact_number(hops.get(t, 0)) for t in tensors},
                             "channel_words": [exact_number(w) for w in tally.load[j]]}
            for key, listed in (("forward", nest.forward[j]), ("share", nest.shared[j - 1])):
                if listed:
                    noc[fan.name][key] = [t for t in tensors if t in listed]
            total += pj
            if memory.bandwidth is not None:
                # exact decimal division, as for level bandwidths (section 4)
                cycles = max(cycles, bandwidth_cycles(max(tally.load[j]), used[j], memory.bandwidth))
        if noc:
            breakdown["noc"] = {fan: v["energy_pj"] for fan, v in noc.items()}
        static_pj = arch.static_pj_per_cycle * cycles
        if static_pj:
            breakdown["static"] = static_pj
            total += static_pj
        return Result(
            valid=not errors, errors=tuple(errors), macs=self.macs, energy_pj=total,
            energy_breakdown=breakdown, accesses=accesses, network_words=network_words,
            tiles={lv.name: nest.tiles[i] for i, lv in enumerate(arch.levels)},
            cycles=cycles, compute_cycles=nest.compute_cycles, utilization=used[0] / self.pes,
            noc=noc, static_pj=static_pj,
        )

    @staticmethod
    def _versions(temporal: list[list[tuple[int, int]]], i: int, rel: tuple[bool, ...]) -> tuple[int, int]:
        """(F, U) of a tile at level i: F = tile versions (product of the loops above i down
        to the innermost relevant one), U = distinct tiles (product of the relevant loops)."""
        F = U = 1
        seen_relevant = False  # loops inside the innermost relevant one give reuse, not versions
        for j in range(i + 1, len(temporal)):  # inner to outer levels
            for d, f in reversed(temporal[j]):  # inner to outer loops
                if rel[d]:
                    seen_relevant = True
                    U *= f
                    F *= f
                elif seen_relevant:
                    F *= f
        return F, U

    def _validate(self, mapping: Mapping, keeps, irr, tiles) -> list[str]:
        """Every resource rule the mapping breaks, each with where and by how much."""
        arch, problem = self.arch, self.problem
        errors = mapping.fanout_errors(arch)
        if self.resident:
            errors += self._resident_errors(keeps) + resident_mapping_errors(problem, mapping, self.resident)
        for i, (lm, lv) in enumerate(zip(mapping.levels, arch.levels)):
            extra = keeps[i] - lv.keeps
            if extra:
                errors.append(f"{lv.name}.keeps: {sorted(extra)} must bypass {lv.name} "
                              f"(it may keep only {sorted(lv.keeps)})")
            if lv.fanout is not None and not lv.fanout.reduction and irr[i]["O"] > 1:
                errors.append(f"{lv.name}.spatial: fanout {lv.fanout.name} has no spatial reduction, so "
                              f"output-irrelevant dims cannot be unrolled across it (unrolls "
                              f"{irr[i]['O']} partial sums per output)")
            if lv.unbounded:
                missing = self.top_must_keep - keeps[i]
                if missing:
                    errors.append(f"{lv.name}.keeps: the outermost level must keep {sorted(missing)}")
                continue
            # buffer sharing: a node holds ceil(1/g) of a shared tile (word k at member k mod g)
            shared = mapping.levels[i + 1].share
            words = {t: -(-tiles[i][t] // irr[i + 1][t]) if t in shared else tiles[i][t] for t in sorted(keeps[i])}
            errors += [f"{arch.levels[i + 1].name}.share: {t} is shared across {arch.levels[i + 1].fanout.name} "
                       f"but {lv.name} does not keep it" for t in sorted(shared - keeps[i])]
            if lv.capacity is not None:
                used = sum(words.values())
                if used > lv.capacity:
                    parts = ", ".join(f"{t} {w}" for t, w in words.items())
                    errors.append(f"{lv.name}: tiles need {used} words > capacity {lv.capacity} "
                                  f"(over by {used - lv.capacity}; {parts})")
            else:
                for t, w in words.items():
                    if t not in lv.keeps:
                        continue  # no partition: reported above as a tensor that must bypass
                    cap = lv.partition(t)
                    if w > cap:
                        errors.append(f"{lv.name}.{t}: tile needs {w} words > partition {cap} "
                                      f"(over by {w - cap})")
        return errors

    def _resident_errors(self, keeps) -> list[str]:
        """A resident tensor is kept at its level and at no level above it (no DRAM copy)."""
        names, errors = self.arch.level_names, []
        for t, r in self.resident.items():
            if t not in keeps[r]:
                errors.append(f"{names[r]}.keeps: {t} is resident in {names[r]}, so {names[r]} must keep it")
            for j in range(r + 1, self.nlev):
                if t in keeps[j]:
                    errors.append(f"{names[j]}.keeps: {t} is resident in {names[r]} (no copy above it), "
                                  f"so {names[j]} must not keep it")
        return errors


@lru_cache(maxsize=256)
def evaluator_for(problem: Problem, arch: Arch, compat: str | None = None) -> Evaluator:
    return Evaluator(problem, arch, compat)


def evaluate(problem: Problem, arch: Arch, mapping: Mapping, compat: str | None = None) -> Result:
    """Exact cost of ``mapping`` for ``problem`` on ``arch`` (see docs/cost-model.md);
    ``compat="timeloop"`` counts as timeloop-model does (docs/cost-model.md, section 8).

    Raises :class:`MappingError` when the mapping does not describe this problem on this
    architecture; resource violations give a Result with ``valid=False`` and every reason.
    """
    return evaluator_for(problem, arch, compat).evaluate(mapping)

"""Temporal segments on a node array: the intermediates' moves between partitions.

A temporal segment on an architecture whose buffer level sits below a mesh
(:func:`~.segments.buffer_level`: per-node global buffers) keeps each intermediate in the
nodes' buffers, each node its share (docs/cost-model.md section 11).  The producer and
the consumer are solved alone, each for its least energy; the exchange of the
intermediate between their partitions is then priced exactly from the two chosen
mappings (:func:`cpmap.cost.redistribute.exchange`) and added to the segment's energy.
So the schedule's energy is exact for the mappings it reports; the segment's bound gets 0
for the exchange (it is never negative), so the network bound stays valid.  Mappings
chosen jointly for less exchange are not searched: the certified gap says how much that
could matter.

A spatial segment (:class:`~.segments.Variant` with ``regions``) runs each layer on its own
region; the same pricing applies with each mapping's node coordinates moved by its
region's first node (:func:`region_exchange_pj`), and since the regions are disjoint every
element the consumer reads leaves its region: :func:`region_move_floor` is a positive lower
bound of the moves over every pair of mappings, which the network bound counts.
"""

from __future__ import annotations

import math

from ..core.arch import Arch
from ..core.problem import Problem
from ..core.region import Region
from ..cost.redistribute import correspondence, exchange, move_floor


def on_nodes(arch: Arch, buffer: str | None) -> bool:
    """Whether ``buffer`` has several instances (a fanout above it)."""
    if buffer is None:
        return False
    i = arch.level_index(buffer)
    return any(lv.fanout is not None for lv in arch.levels[i + 1:])


def linked(producer: Problem, consumer: Problem) -> bool:
    """Whether the producer's O and the consumer's I correspond element by element
    (:func:`cpmap.cost.redistribute.correspondence`)."""
    o, i = producer.tensor("O"), consumer.tensor("I")
    o_ax = [(ax.terms[0][0], ax.extent(producer.size)) for ax in o.axes]
    i_ax = [(ax.terms[0][0], 1 + sum(c * (consumer.size[d] - 1) for d, c in ax.terms)) for ax in i.axes]
    return correspondence(o_ax, i_ax) is not None


def exchange_pj(problems: tuple[Problem, ...], mappings: tuple, arch: Arch, buffer: str | None) -> float:
    """Energy (pJ) of one batch group's intermediate moves along a temporal segment whose
    layers run ``problems`` with ``mappings``; 0 on a single-instance buffer."""
    if not on_nodes(arch, buffer):
        return 0.0
    level = arch.level_index(buffer)
    parts = []
    for (p, pm), (c, cm) in zip(zip(problems, mappings), zip(problems[1:], mappings[1:])):
        ex = exchange(p, pm, c, cm, arch, level)
        if ex is None:
            raise ValueError(f"{p.name} -> {c.name}: the output and the input do not correspond")
        parts.append(ex.energy_pj)
    return math.fsum(parts)


def region_exchange_pj(problems: tuple[Problem, ...], mappings: tuple, arch: Arch, buffer: str,
                       regions: tuple[Region, ...]) -> float:
    """Energy (pJ) of one batch group's intermediate moves along a spatial segment: layer
    ``k`` runs ``problems[k]`` with ``mappings[k]`` on ``regions[k]`` of ``arch``'s mesh."""
    level = arch.level_index(buffer)
    parts = []
    for k in range(len(problems) - 1):
        p, c, rp, rc = problems[k], problems[k + 1], regions[k], regions[k + 1]
        ex = exchange(p, mappings[k], c, mappings[k + 1], arch, level, (rp.row, rp.col), (rc.row, rc.col))
        if ex is None:
            raise ValueError(f"{p.name} -> {c.name}: the output and the input do not correspond")
        parts.append(ex.energy_pj)
    return math.fsum(parts)


def region_move_floor(problems: tuple[Problem, ...], arch: Arch, buffer: str, regions: tuple[Region, ...]) -> float:
    """A lower bound (pJ) of :func:`region_exchange_pj` over every mapping of the layers:
    per intermediate, its needed words x (the regions' distance x hop energy + a read
    and a write) (:func:`cpmap.cost.redistribute.move_floor`)."""
    level = arch.level_index(buffer)
    return math.fsum(move_floor(problems[k], problems[k + 1], arch, level, regions[k].distance(regions[k + 1]))
                     for k in range(len(problems) - 1))

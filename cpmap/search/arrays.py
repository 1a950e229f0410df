"""Genomes as the plain arrays of the batch evaluator (:mod:`cpmap.cost.batch`).

A :class:`~cpmap.search.space.Genome` already is a mapping in index form: its factor rows
are the ``factors[d][s]`` array over the same slots (:func:`cpmap.core.slots.slots_of`), its
orders are per-level permutations of the dim indices, and its keep sets become one bit
per tensor.  So a batch of genomes is evaluated without decoding any of them.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np

from .space import Genome, Space

_chain = itertools.chain.from_iterable


class GenomeArrays:
    """Converts batches of genomes of one space to ``(factors, orders, keeps)`` arrays of
    shapes (B, D, S), (B, L, D) and (B, L, T)."""

    def __init__(self, space: Space):
        self.D, self.S, self.L = len(space.dims), len(space.slots), space.nlevels
        names = space.problem.tensor_names
        self.T = len(names)
        # every subset of the tensors -> its bit mask (bit t: keeps names[t])
        self.mask = {frozenset(c): sum(1 << names.index(t) for t in c)
                     for r in range(self.T + 1) for c in itertools.combinations(names, r)}
        self.bits = 1 << np.arange(self.T)

    def __call__(self, genomes: Sequence[Genome]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        B = len(genomes)
        factors = np.fromiter(_chain(_chain(g.factors for g in genomes)), np.int64, B * self.D * self.S)
        orders = np.fromiter(_chain(_chain(g.orders for g in genomes)), np.int64, B * self.L * self.D)
        mask = self.mask
        masks = np.fromiter((mask[k] for g in genomes for k in g.keeps), np.int64, B * self.L)
        keeps = (masks[:, None] & self.bits) != 0
        return (factors.reshape(B, self.D, self.S), orders.reshape(B, self.L, self.D),
                keeps.reshape(B, self.L, self.T))

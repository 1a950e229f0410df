"""The layer problem: named loop dims and the tensors they index.

A layer is a perfect loop nest over named dims (e.g. N, G, K, C, P, Q, R, S for a
convolution).  Each tensor (W, I, O) is indexed by a tuple of *axes*; each axis index
is an affine combination of dims, ``sum(coef * dim)``.  A sliding-window input row is
the two-term axis ``stride * P + dilation * R``; every other axis is a single dim.

This is the one definition of "which dims each tensor depends on" and of "how many
distinct elements a tile holds" shared by the evaluator and the CP-SAT model, so the
two cannot drift apart.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache

TENSORS = ("W", "I", "O")
"""Tensor names in canonical order: weights (or gemm's second operand), inputs, outputs."""


@lru_cache(maxsize=65536)
def window_extent(stride: int, dilation: int, p: int, r: int) -> int:
    """Distinct values of ``stride * i + dilation * j`` for ``0 <= i < p``, ``0 <= j < r``.

    This is the number of input rows touched by ``p`` output rows and ``r`` filter rows.
    For dilation 1 and ``stride <= r`` it is ``(p - 1) * stride + r``; when ``stride > r``
    the windows do not overlap and it is ``p * r``.  With dilation the count is computed
    exactly by enumeration (tiles are small and the result is cached).
    """
    if p <= 0 or r <= 0:
        raise ValueError("window extents must be positive")
    if p == 1:
        return r
    if r == 1:
        return p
    if dilation == 1 and stride <= r:
        return (p - 1) * stride + r
    if dilation == 1:
        return p * r
    return len({stride * i + dilation * j for i in range(p) for j in range(r)})


@dataclass(frozen=True)
class Axis:
    """One axis of a tensor: index = sum(coef * dim) over ``terms``."""

    terms: tuple[tuple[str, int], ...]

    def __post_init__(self) -> None:
        if not 1 <= len(self.terms) <= 2:
            raise ValueError(f"an axis has one or two terms, got {self.terms}")
        if any(c <= 0 for _, c in self.terms):
            raise ValueError(f"axis coefficients must be positive: {self.terms}")

    @property
    def dims(self) -> tuple[str, ...]:
        return tuple(d for d, _ in self.terms)

    def extent(self, extents: dict[str, int]) -> int:
        """Distinct index values when each dim ranges over ``extents[dim]`` values."""
        if len(self.terms) == 1:
            return extents[self.terms[0][0]]
        (d0, c0), (d1, c1) = self.terms
        return window_extent(c0, c1, extents[d0], extents[d1])


@dataclass(frozen=True)
class Tensor:
    name: str
    axes: tuple[Axis, ...]

    @property
    def dims(self) -> frozenset[str]:
        """Dims this tensor depends on (its *relevant* dims)."""
        return frozenset(d for a in self.axes for d in a.dims)

    def words(self, extents: dict[str, int]) -> int:
        """Distinct elements touched when each dim ranges over ``extents[dim]`` values."""
        return math.prod(a.extent(extents) for a in self.axes)


MAX_DIM_SIZE = 2**31 - 1
"""Largest loop bound (after the batch multiplies it).  Factoring a dim is trial division
up to its square root, and the solver's variables are int64: bounds past 2**31 are
mistakes, not layers."""


@dataclass(frozen=True)
class Problem:
    """One layer as a loop nest.  ``dims`` and ``sizes`` are aligned; ``ops`` is the op name
    (``mac`` for conv/fc/gemm, ``compare``/``add`` for pool/eltwise)."""

    name: str
    kind: str
    dims: tuple[str, ...]
    sizes: tuple[int, ...]
    tensors: tuple[Tensor, ...]
    params: tuple[tuple[str, int], ...] = field(default=())
    resident: tuple[tuple[str, str], ...] = field(default=())
    """On-chip residency (docs/cost-model.md section 11): ``(tensor, level name)`` pairs,
    sorted by tensor, for the I and/or O whose backing store is that on-chip level instead
    of the outermost one (an input the previous layer left there, an output left there for
    the next layer).  Empty: every tensor lives in DRAM."""

    def __post_init__(self) -> None:
        if len(self.dims) != len(self.sizes):
            raise ValueError("dims and sizes differ in length")
        if len(set(self.dims)) != len(self.dims):
            raise ValueError(f"duplicate dim names in {self.dims}")
        if any(s < 1 for s in self.sizes):
            raise ValueError(f"dim sizes must be >= 1: {dict(zip(self.dims, self.sizes))}")
        big = {d: s for d, s in zip(self.dims, self.sizes) if s > MAX_DIM_SIZE}
        if big:
            raise ValueError(f"expected dim sizes of at most {MAX_DIM_SIZE:,}, got "
                             f"{', '.join(f'{d} = {s:,}' for d, s in big.items())}")
        names = [t.name for t in self.tensors]
        if "O" not in names or "I" not in names or not set(names) <= set(TENSORS):
            raise ValueError(f"a problem has tensors I, O and optionally W, got {names}")
        for t in self.tensors:
            unknown = t.dims - set(self.dims)
            if unknown:
                raise ValueError(f"tensor {t.name} uses unknown dims {sorted(unknown)}")
        res = [t for t, _ in self.resident]
        if res != sorted(set(res)) or not set(res) <= {"I", "O"}:
            raise ValueError(f"resident tensors must be I and/or O, each once and sorted, got {self.resident}")

    @property
    def size(self) -> dict[str, int]:
        return dict(zip(self.dims, self.sizes))

    @property
    def tensor_names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.tensors)

    def tensor(self, name: str) -> Tensor:
        for t in self.tensors:
            if t.name == name:
                return t
        raise KeyError(name)

    @property
    def macs(self) -> int:
        """Number of innermost operations (MACs for conv/fc/gemm)."""
        return math.prod(self.sizes)

    def tensor_words(self, name: str) -> int:
        """Whole-tensor size in words (inputs include padding: the padded input)."""
        return self.tensor(name).words(self.size)

    def key(self) -> tuple:
        """Identity of the loop-nest problem, independent of the layer's name."""
        return (self.kind, self.dims, self.sizes, self.tensors, self.resident)


def _ax(*terms: tuple[str, int]) -> Axis:
    return Axis(tuple(terms))


def conv(name: str, *, N: int = 1, K: int, C: int, P: int, Q: int, R: int = 1, S: int = 1,
         stride: int | tuple[int, int] = 1, dilation: int | tuple[int, int] = 1,
         groups: int = 1) -> Problem:
    """A (grouped, strided, dilated) convolution.  K and C are totals over all groups;
    the problem's K and C dims are per group and G counts groups (depthwise: G = C = K
    totals, per-group K = C = 1)."""
    sy, sx = (stride, stride) if isinstance(stride, int) else stride
    dy, dx = (dilation, dilation) if isinstance(dilation, int) else dilation
    if groups < 1:
        raise ValueError(f"groups must be >= 1, got {groups}")
    if K % groups or C % groups:
        raise ValueError(f"K={K} and C={C} must be divisible by groups={groups}")
    dims = ("N", "G", "K", "C", "P", "Q", "R", "S")
    sizes = (N, groups, K // groups, C // groups, P, Q, R, S)
    tensors = (
        Tensor("W", (_ax(("G", 1)), _ax(("K", 1)), _ax(("C", 1)), _ax(("R", 1)), _ax(("S", 1)))),
        Tensor("I", (_ax(("N", 1)), _ax(("G", 1)), _ax(("C", 1)),
                     _ax(("P", sy), ("R", dy)), _ax(("Q", sx), ("S", dx)))),
        Tensor("O", (_ax(("N", 1)), _ax(("G", 1)), _ax(("K", 1)), _ax(("P", 1)), _ax(("Q", 1)))),
    )
    params = (("stride_y", sy), ("stride_x", sx), ("dilation_y", dy), ("dilation_x", dx),
              ("groups", groups))
    return Problem(name, "conv", dims, sizes, tensors, params)


def fc(name: str, *, N: int = 1, K: int, C: int) -> Problem:
    """A fully-connected layer: O[N, K] += W[K, C] * I[N, C]."""
    tensors = (
        Tensor("W", (_ax(("K", 1)), _ax(("C", 1)))),
        Tensor("I", (_ax(("N", 1)), _ax(("C", 1)))),
        Tensor("O", (_ax(("N", 1)), _ax(("K", 1)))),
    )
    return Problem(name, "fc", ("N", "K", "C"), (N, K, C), tensors)


def gemm(name: str, *, M: int, N: int, K: int, B: int = 1) -> Problem:
    """A batched matmul O[B, M, N] += I[B, M, K] * W[B, K, N].  W is the second operand;
    for attention (QK^T, AV) it is an activation and differs per batch entry (head)."""
    tensors = (
        Tensor("W", (_ax(("B", 1)), _ax(("K", 1)), _ax(("N", 1)))),
        Tensor("I", (_ax(("B", 1)), _ax(("M", 1)), _ax(("K", 1)))),
        Tensor("O", (_ax(("B", 1)), _ax(("M", 1)), _ax(("N", 1)))),
    )
    return Problem(name, "gemm", ("B", "M", "N", "K"), (B, M, N, K), tensors)


def pool(name: str, *, N: int = 1, C: int, P: int, Q: int, R: int, S: int,
         stride: int | tuple[int, int] = 1) -> Problem:
    """A pooling layer (no weights): O[N, C, P, Q] = reduce over R, S of I[N, C, y, x]."""
    sy, sx = (stride, stride) if isinstance(stride, int) else stride
    tensors = (
        Tensor("I", (_ax(("N", 1)), _ax(("C", 1)), _ax(("P", sy), ("R", 1)), _ax(("Q", sx), ("S", 1)))),
        Tensor("O", (_ax(("N", 1)), _ax(("C", 1)), _ax(("P", 1)), _ax(("Q", 1)))),
    )
    return Problem(name, "pool", ("N", "C", "P", "Q", "R", "S"), (N, C, P, Q, R, S), tensors,
                   (("stride_y", sy), ("stride_x", sx)))


def eltwise(name: str, *, N: int = 1, C: int, P: int = 1, Q: int = 1, E: int = 2) -> Problem:
    """An element-wise sum of E inputs (no weights): O[N, C, P, Q] = sum_e I[e, N, C, P, Q]."""
    tensors = (
        Tensor("I", (_ax(("E", 1)), _ax(("N", 1)), _ax(("C", 1)), _ax(("P", 1)), _ax(("Q", 1)))),
        Tensor("O", (_ax(("N", 1)), _ax(("C", 1)), _ax(("P", 1)), _ax(("Q", 1)))),
    )
    return Problem(name, "eltwise", ("N", "C", "P", "Q", "E"), (N, C, P, Q, E), tensors)

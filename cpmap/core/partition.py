"""nn_dataflow's partitioning schemes by name, as dims of each layer kind.

TETRIS/TANGRAM (nn_dataflow) split a layer across a node array by *schemes*: ``batch``
(each node a share of the batch), ``fmap`` (of the output feature map's positions),
``output`` (of the output channels) and ``input`` (of the input channels, whose partial
sums are then reduced across nodes).  A solve spec's ``partition:`` names them per mesh
axis; :func:`scheme_dims` turns a name into the dims of one layer kind, and
:mod:`cpmap.core.constraints` turns those into may-lists on the axes (``spatial``), so
the solver and the searchers need no code of their own.

| kind | batch | fmap | output | input | ``naive`` |
| --- | --- | --- | --- | --- | --- |
| conv | N | P, Q | K, G | C | fmap |
| fc | N | (none) | K | C | output |
| gemm ``O[B,M,N] += I[B,M,K] W[B,K,N]`` | B | M | N | K | output |
| pool | N | P, Q | C | (none) | fmap |
| eltwise | N | P, Q | C | (none) | fmap |

Why: ``fmap`` is the dims the output and input share and the weights do not (conv's P, Q;
gemm's rows M), ``output`` the ones the output and weights share (K; gemm's N; a grouped
conv's groups G index output channels too and need no reduction), ``input`` the summed
dims of channels (C; gemm's K); pool and eltwise channels are output channels (nothing is
summed across them; nn_dataflow does not input-partition them).  The filter dims R, S and
eltwise's operand count E are never partitioned (nn_dataflow does not).  ``naive`` is
nn_dataflow without hybrid partitioning: one scheme per layer, fmap for conv (and pooling
layers), output for fc (gemm is fc-like); ``hybrid`` allows every scheme on every axis.
"""

from __future__ import annotations

SCHEMES = ("batch", "fmap", "output", "input")
"""nn_dataflow's partitioning schemes (its BATP, OFMP, OUTP, INPP)."""

PRESETS = ("naive", "hybrid")
"""Whole-level presets: ``partition: {DRAM: naive}``."""

SCHEME_DIMS = {
    "conv": {"batch": ("N",), "fmap": ("P", "Q"), "output": ("K", "G"), "input": ("C",)},
    "fc": {"batch": ("N",), "fmap": (), "output": ("K",), "input": ("C",)},
    "gemm": {"batch": ("B",), "fmap": ("M",), "output": ("N",), "input": ("K",)},
    "pool": {"batch": ("N",), "fmap": ("P", "Q"), "output": ("C",), "input": ()},
    "eltwise": {"batch": ("N",), "fmap": ("P", "Q"), "output": ("C",), "input": ()},
}
"""{layer kind: {scheme: dims}} (module docstring)."""

NAIVE = {"conv": "fmap", "fc": "output", "gemm": "output", "pool": "fmap", "eltwise": "fmap"}
"""The one scheme of ``naive`` per layer kind."""


def scheme_dims(kind: str, scheme: str) -> tuple[str, ...]:
    """The dims of a ``kind`` layer that ``scheme`` (a scheme or a preset) lets a mesh
    axis carry.  ``scheme_dims("conv", "fmap")`` -> ``("P", "Q")``."""
    table = SCHEME_DIMS[kind]
    if scheme == "naive":
        return table[NAIVE[kind]]
    if scheme == "hybrid":
        return tuple(d for s in SCHEMES for d in table[s])
    return table[scheme]


def partition_dims(kind: str, schemes: tuple[str, ...]) -> tuple[str, ...]:
    """The dims the ``schemes`` of one axis allow, in scheme order, each once."""
    return tuple(dict.fromkeys(d for s in schemes for d in scheme_dims(kind, s)))


def schemes_of(kind: str, dims) -> tuple[str, ...]:
    """The scheme names of ``dims`` (the dims one mesh axis carries) of a ``kind`` layer,
    in the order the dims come; a dim no scheme has is named as itself (R, S, E)."""
    by_dim = {d: s for s, ds in SCHEME_DIMS.get(kind, {}).items() for d in ds}
    return tuple(dict.fromkeys(by_dim.get(d, d) for d in dims))


def partition_entries(level: str, value) -> tuple[tuple[str, str, tuple[str, ...]], ...]:
    """The :attr:`cpmap.core.constraints.Constraints.partition` entries of one level's value: a preset name
    (axis ``"*"``) or ``{axis: [schemes]}`` (one scheme may be written bare)."""
    if isinstance(value, str):
        return ((level, "*", (value,)),)
    return tuple((level, ax, tuple([v] if isinstance(v, str) else v)) for ax, v in value.items())


def min_nodes_entries(value) -> tuple[tuple[str, int], ...]:
    """The :attr:`cpmap.core.constraints.Constraints.min_nodes` entries of ``min_nodes: 8`` (level ``""``: the
    only mesh) or ``{DRAM: 8}``."""
    if value is None:
        return ()
    if isinstance(value, dict):
        return tuple(value.items())
    return (("", value),)


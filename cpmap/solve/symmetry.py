"""Symmetry breaking between equivalent mappings (issue 11 item 5, docs/solver.md).

A square convolution (P = Q, R = S, the same stride and dilation on both axes) maps onto
itself when the pairs (P, Q) and (R, S) swap names: every tensor's axes are the same set,
so swapping the two dims' loop factors in every slot (temporal and spatial alike, on
whatever axis they sit) turns a mapping into one of the same cost and validity.  The
model then holds every mapping twice (once per orientation) and a proof has to close
both.  :func:`add_symmetry_breaking` keeps, of each such pair of mappings, the one whose
exponent vector of the first dims is lexicographically no greater than that of their
partners (the lex-leader constraint ``x <= sigma(x)``: one linear inequality with
positional weights, exact).  Of every pair one satisfies it, with the same cost, so the
optimum is unchanged (tests/test_symmetry.py checks it against exhaustive enumeration).

Generic: any involution of up to two dim swaps under which the problem's tensors, the
exponent variables and their domains map onto themselves; only the first one found is
broken (several lex-leader constraints would need one common variable order).
"""

from __future__ import annotations

import itertools

from .kit import INT64_SAFE

ENABLED = True
"""On for every model with such a symmetry; ``bench/hard_layers.py`` switches it to measure it."""


def _image(problem, swap: dict):
    """The problem's tensors as sets of axes (each a set of (dim, coefficient) terms) after renaming by ``swap``."""
    return tuple(frozenset(frozenset((swap.get(d, d), c) for d, c in ax.terms) for ax in t.axes)
                 for t in problem.tensors)


def dim_swaps(problem) -> list[tuple[tuple[str, str], ...]]:
    """Involutions of one or two disjoint swaps of equal-size dims (> 1) that map every
    tensor's axes onto themselves."""
    sizes = dict(zip(problem.dims, problem.sizes))
    pairs = [(a, b) for a, b in itertools.combinations(problem.dims, 2) if sizes[a] == sizes[b]]
    same = _image(problem, {})
    found = []
    for n in (1, 2):
        for combo in itertools.combinations(pairs, n):
            if len({d for pr in combo for d in pr}) < 2 * n:
                continue
            swap = {a: b for a, b in combo} | {b: a for a, b in combo}
            if _image(problem, swap) == same:
                found.append(combo)
    return found


def add_symmetry_breaking(b, on: bool = True) -> None:
    """Lex-leader constraint for the first dim swap whose exponent variables map onto
    each other (same slots, same domains); none where a user constraint (a required
    dataflow, a cap or may-list naming one dim of a pair only) or a mesh's hop
    distances could tell the two apart."""
    if not (ENABLED and on) or b.cons.required_dims or b.meshes:
        return
    kit, cons = b.kit, b.cons
    for combo in dim_swaps(b.problem):
        swap = {a: c for a, c in combo} | {c: a for a, c in combo}
        if any(cons.max_factor.get((i, d)) != cons.max_factor.get((i, swap[d])) for i, d in cons.max_factor if d in swap) \
                or any((a in ds) != (c in ds) for ds in cons.spatial_dims.values() for a, c in combo):
            continue
        first, second = [], []
        ok = True
        for a, c in combo:
            for p in sorted(kit.primes[a]):
                for s in b.slots:
                    va, vc = kit.atoms.get(("e", a, p, s)), kit.atoms.get(("e", c, p, s))
                    if va is None and vc is None:
                        continue
                    if va is None or vc is None or _domain(b.m, va) != _domain(b.m, vc):
                        ok = False
                        break
                    first.append(va)
                    second.append(vc)
        if not ok or not first:
            continue
        weights, w = [], 1
        for v in reversed(first):
            weights.append(w)
            w *= _domain(b.m, v)[1] + 1
        if w >= INT64_SAFE:
            continue
        weights.reverse()
        b.m.add(sum(k * v for k, v in zip(weights, first)) <= sum(k * v for k, v in zip(weights, second)))
        return


def _domain(m, v) -> tuple[int, int]:
    dom = list(m.proto.variables[v.index].domain)  # the proto field does not index from the end
    return dom[0], dom[-1]

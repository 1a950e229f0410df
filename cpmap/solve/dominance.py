"""Dominance: a level that keeps no tensor holds no temporal loop (issue 11 item 5,
docs/solver.md "Dominance").

When level ``i`` keeps nothing, its temporal loops only shape the refill counts of the
levels below it.  Move them into level ``i + 1`` (each dim's factor multiplied in): every
tile a level keeps, every product of the temporal factors above a level, every ``U``,
every spatial factor and the compute cycles stay the same, and only the reuse runs that
reach level ``i`` change.  With everything else fixed the energy is ``C + sum over T of
K_T / rho_T`` in the reuse ``rho_T`` such a run gets from level ``i`` upwards (counts are
linear in the refills, as in the loop-order argument of docs/solver.md), ``K_W, K_I >= 0``.
Before the move, only the tensor ``T0`` of level ``i``'s class has ``rho > 1``; after it,
level ``i + 1`` takes class ``T0`` (``rho_T0`` no smaller) if ``K_T0 >= 0``, else (``T0`` =
O) a class or ``none`` that gives O ``rho = 1`` (no worse, as ``K_O < 0``), else every loop
of both levels is O-irrelevant and the run is the same.  So some optimal mapping has level
``i`` empty, innermost such level first, and :func:`add_dominance` adds, per level that may
keep nothing, "keeps nothing => no temporal loop" (one reified linear constraint).  The
mirror swaps of :mod:`.symmetry` keep a level empty, so both can hold at once.

It needs the energy to be that affine function, so it is added only for the energy
objective without static energy or a cycle cap (bandwidth-limited cycles are a maximum of
counts), and left out where other constraints see level ``i + 1``'s factors or the loops'
place: a temporal factor cap, a resident tensor, a mesh (hop distances).  Nor where a
bandwidth limits a level: the cycles tie-break then minimizes bandwidth stalls, which a
new class may raise; without bandwidths cycles are the compute cycles, which the move
keeps, so the fewest cycles among the energy optima stay in the model too.
tests/test_dominance.py checks the move against the evaluator and the model's optimum
against the model without the constraint and against exhaustive enumeration.
"""

from __future__ import annotations

from ..core.slots import Slot
from .cycles import has_bandwidth

ENABLED = True
"""On wherever it applies; ``bench/hard_layers.py`` switches it to measure it."""


def applies(b, objective: str) -> bool:
    """Whether the argument above holds for builder ``b``'s model."""
    return (objective == "energy" and b.arch.static_pj_per_cycle == 0 and not has_bandwidth(b.arch)
            and not b.meshes and not b.cons.max_factor and all(top == b.L - 1 for top in b.top.values()))


def add_dominance(b, objective: str, on: bool = True) -> None:
    """Per level below the outermost that may keep nothing: its temporal exponents are all
    zero when none of its keep literals is true."""
    if not (ENABLED and on and applies(b, objective)):
        return
    for i in range(b.L - 1):
        keeps = [b.keep[i, t] for t in b.tensors]
        if any(k is True for k in keeps):
            continue
        exps = [v for d in b.all_dims for _, v in b.exponents.get((d, Slot(i)), ())]
        if not exps:
            continue
        lits = [k.negated() for k in keeps if k is not False]
        b.m.add(sum(exps) == 0).only_enforce_if(lits)

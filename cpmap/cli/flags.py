"""Argument types and the flags several commands share: one definition each, so that
``cpmap solve``, ``sweep`` and ``bound`` check and describe their limits alike."""

from __future__ import annotations

import argparse
import math


def positive(kind):
    """An argparse type: a finite ``kind`` (int or float) > 0."""
    def check(text: str):
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or not math.isfinite(value) or value <= 0:
            raise argparse.ArgumentTypeError(f"expected {'a number' if kind is float else 'an integer'} > 0, "
                                             f"got {text!r}")
        return value

    return check


def int_range(lo: int, hi: int | None = None):
    """An argparse type: an integer in [lo, hi] (no upper limit when hi is None)."""
    def check(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < lo or (hi is not None and value > hi):
            what = f"from {lo} to {hi}" if hi is not None else f">= {lo}"
            raise argparse.ArgumentTypeError(f"expected an integer {what}, got {text!r}")
        return value

    return check


seed = int_range(0, 2**31 - 1)
"""CP-SAT's random seed: a non-negative 32-bit integer."""
nonneg_int = int_range(0)


def add_limit_flags(p: argparse.ArgumentParser, source: str, *, per: str = "per layer", time_default: str = "",
                    workers_default: str = "", with_seed: bool = True) -> None:
    """--time-limit, --work-limit, --workers (and --seed) of a command that solves the layers
    of a ``source`` file ("spec", "sweep"), overriding its fields of the same names."""
    p.add_argument("--time-limit", type=positive(float), metavar="S",
                   help=f"wall-clock seconds {per}, everything included ({source}: time_limit{time_default})")
    p.add_argument("--work-limit", type=positive(float), metavar="W",
                   help=f"CP-SAT deterministic seconds {per}: a solve it stops gives the same answer on any "
                        f"machine ({source}: work_limit; default 0.7 x the time limit; docs/solver.md)")
    p.add_argument("--workers", type=positive(int), metavar="N",
                   help="CP-SAT workers per solve" + (f" (default {workers_default})" if workers_default else ""))
    if with_seed:
        p.add_argument("--seed", type=seed, metavar="N", help="CP-SAT random seed (default 0)")

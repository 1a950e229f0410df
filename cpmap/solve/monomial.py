"""Monomials: products of loop factors and window extents, held symbolically.

Every access count of the cost model is a sum of monomials (docs/solver.md).  A
:class:`Mono` keeps, per dim and prime, the exponent of the product as a linear
combination of *atoms* (the model's exponent variables and gated reuse variables), so
its logarithm is linear in the exponents; :class:`Term` is a monomial materialized in
the model.  Nothing here touches OR-Tools.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass


class Mono:
    """A product of loop factors (and window extents) held symbolically.

    ``exps[(d, p)]`` is a Counter {atom: coefficient} whose sum is the exponent of prime p
    of dim d in the product; atoms are exponent variables or gated reuse variables."""

    __slots__ = ("const", "exps", "windows")

    def __init__(self, const: int = 1, exps: dict | None = None, windows: tuple = ()):
        self.const, self.exps, self.windows = const, exps or {}, windows

    def __mul__(self, other: Mono) -> Mono:
        exps = {k: Counter(v) for k, v in self.exps.items()}
        for k, v in other.exps.items():
            c = exps.setdefault(k, Counter())
            c.update(v)
        return Mono(self.const * other.const, exps, self.windows + other.windows)

    def over(self, other: Mono) -> Mono:
        """``self / other`` for a divisor of loop factors only (no constant, no window)
        that divides ``self`` exactly: its exponents are subtracted."""
        exps = {k: Counter(v) for k, v in self.exps.items()}
        for k, v in other.exps.items():
            c = exps.setdefault(k, Counter())
            c.subtract(v)
        return Mono(self.const, exps, self.windows)

    def key(self) -> tuple:
        exps = tuple(sorted((k, nonzero(c)) for k, c in self.exps.items()))
        return (self.const, tuple(e for e in exps if e[1]), tuple(sorted(self.windows)))


def nonzero(counter) -> frozenset:
    """The (atom, coefficient) pairs of an exponent counter, zeros dropped."""
    return frozenset((a, n) for a, n in (counter or {}).items() if n)


def prod(monos) -> Mono:
    """The product of monos (1 for none)."""
    out = Mono()
    for m in monos:
        out = out * m
    return out


@dataclass
class Term:
    """A materialized monomial: value = ``const * var`` (var None: the constant)."""

    var: object
    const: int
    ub: int
    log: object  # linear lower bound of ln(value) * CUT_SCALE (int when constant)

    @property
    def expr(self):
        return self.const if self.var is None else self.const * self.var

    @property
    def is_const(self) -> bool:
        return self.var is None

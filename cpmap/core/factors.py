"""Integer factorization of loop dims: the factors a mapping can give each dim."""

from __future__ import annotations


def prime_factors(n: int) -> dict[int, int]:
    """{prime: exponent} of n (empty for 1)."""
    out: dict[int, int] = {}
    p = 2
    while p * p <= n:
        while n % p == 0:
            out[p] = out.get(p, 0) + 1
            n //= p
        p += 1
    if n > 1:
        out[n] = out.get(n, 0) + 1
    return out


def prime_list(n: int) -> list[int]:
    """The primes of n with multiplicity, ascending (e.g. 12 -> [2, 2, 3])."""
    return [p for p, k in prime_factors(n).items() for _ in range(k)]


def divisors(n: int) -> list[int]:
    """Every divisor of n, ascending: products of its prime powers, so the work is the
    number of divisors, not n (a dim of 10**9 took minutes by trial of every integer)."""
    out = [1]
    for p, k in prime_factors(n).items():
        out = [d * p**e for d in out for e in range(k + 1)]
    return sorted(out)

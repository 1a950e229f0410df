"""Field validators shared by every spec file kind.

Validation is written once, as small validators (``(value, field path) -> value``:
:func:`pos_int`, :func:`size_in_words` ...) used through :func:`req`, :func:`opt` and
:func:`check_keys`.  They raise :class:`Invalid` (field path + what was expected); the
loaders' entry points add the file name (:func:`with_file`), so every user mistake
becomes a :class:`~cpmap.core.errors.SpecError` like::

    specs/x.yaml: architecture.levels[1].capacity: expected a size like '108 KiB',
    '512 B' or '256 words', got 'lots'

Rules that the core constructors already enforce are not repeated: their ``ValueError``
is re-raised against the right field (:func:`from_core`).
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable
from fractions import Fraction
from typing import Any

from ..core.errors import SpecError
from ..core.problem import TENSORS


class Invalid(Exception):
    """A validation failure at ``field``; the loaders attach the file name."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field, self.message = field, message


MISSING = object()
Validator = Callable[[Any, str], Any]
"""(value, field path) -> converted value, or raise Invalid."""


def at(path: str, key: str) -> str:
    """The field path of ``key`` inside ``path``."""
    return f"{path}.{key}" if path else key


def show(v: Any) -> str:
    """How a bad value is quoted in messages (YAML spelling, so users recognise it)."""
    if isinstance(v, bool):
        return f"{str(v).lower()} (a boolean)"
    if v is None:
        return "nothing (null)"
    if isinstance(v, dict):
        return "a mapping"
    if isinstance(v, list):
        return f"a list {v!r}" if len(repr(v)) <= 40 else f"a list of {len(v)} items"
    return repr(v)


def expect(what: str) -> Callable[[Any, str], Invalid]:
    return lambda v, path: Invalid(path, f"expected {what}, got {show(v)}")


def is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)  # bool is an int subclass


def is_number(v: Any) -> bool:
    """A finite int or float (not a bool; ints of any size: ``math.isfinite`` would
    overflow on a 400-digit YAML integer)."""
    return is_int(v) or (isinstance(v, float) and math.isfinite(v))


def is_name_in(v: Any, names) -> bool:
    """``v`` is one of ``names`` (strings).  Checks the type first: a YAML mapping or list
    written where a name belongs is unhashable and would break ``v in names`` on a dict
    or set."""
    return isinstance(v, str) and v in names


def pos_int(v: Any, path: str) -> int:
    if not is_int(v) or v < 1:
        raise expect("a positive integer")(v, path)
    return v


def nonneg_int(v: Any, path: str) -> int:
    if not is_int(v) or v < 0:
        raise expect("an integer >= 0")(v, path)
    return v


def gap_fraction(v: Any, path: str) -> float:
    if not is_number(v) or not 0 <= v < 1:
        raise expect("a gap fraction in [0, 1) (0.01: at most 1%)")(v, path)
    return float(v)


def nonneg_number(v: Any, path: str) -> float:
    if not is_number(v) or v < 0:
        raise expect("a number >= 0")(v, path)
    return v


MAX_ENERGY_PJ = 1e9
"""Largest energy per access or word (1 mJ: a million times a DRAM access).  Larger
values are typos, and the solver scales energies by up to 10**6 into int64 coefficients."""


def energy_pj(v: Any, path: str) -> float:
    if not is_number(v) or not 0 <= v <= MAX_ENERGY_PJ:
        raise expect(f"an energy in pJ from 0 to {MAX_ENERGY_PJ:.0e}")(v, path)
    return v


def pos_number(v: Any, path: str) -> float:
    if not is_number(v) or v <= 0:
        raise expect("a number > 0")(v, path)
    return v


MIN_BANDWIDTH = 1e-6
"""Smallest bandwidth in words per cycle.  Below it the cycles of a large layer pass int64
(the batch evaluator's and the solver's integers); no memory is that slow, so smaller
values are typos (a unit of bytes per second, say)."""


def bandwidth_words(v: Any, path: str) -> float:
    if not is_number(v) or not v >= MIN_BANDWIDTH:
        raise expect(f"a bandwidth >= {MIN_BANDWIDTH:g} words per cycle")(v, path)
    return v


def boolean(v: Any, path: str) -> bool:
    if not isinstance(v, bool):
        raise expect("true or false")(v, path)
    return v


def name_str(v: Any, path: str) -> str:
    if not isinstance(v, str) or not v.strip():
        raise expect("a non-empty name")(v, path)
    return v


def name_list(v: Any, path: str) -> tuple[str, ...]:
    if not isinstance(v, list):
        raise expect("a list of names like [a, b]")(v, path)
    out = tuple(name_str(x, f"{path}[{i}]") for i, x in enumerate(v))
    for i, x in enumerate(out):
        if x in out[:i]:
            raise Invalid(f"{path}[{i}]", f"expected each name once, got {x!r} twice")
    return out


def nonempty_list(v: Any, path: str) -> list:
    if not isinstance(v, list) or not v:
        raise expect("a non-empty list")(v, path)
    return v


def tensor_set(v: Any, path: str) -> frozenset[str]:
    if not isinstance(v, list):
        raise expect("a list of tensor names like [W, I, O]")(v, path)
    for i, t in enumerate(v):
        if not is_name_in(t, TENSORS):
            raise Invalid(f"{path}[{i}]", f"expected one of {', '.join(TENSORS)}, got {show(t)}")
    return frozenset(name_list(v, path))


def int_or_pair(v: Any, path: str) -> int | tuple[int, int]:
    """A stride or dilation: one int for both directions, or [y, x]."""
    if isinstance(v, list):
        if len(v) != 2:
            raise expect("an integer or a pair [y, x]")(v, path)
        return (pos_int(v[0], f"{path}[0]"), pos_int(v[1], f"{path}[1]"))
    if not is_int(v) or v < 1:
        raise expect("a positive integer or a pair [y, x]")(v, path)
    return v


def choice(choices: tuple[str, ...]) -> Validator:
    """One of ``choices``, spelled exactly."""

    def check(v: Any, path: str) -> str:
        if not is_name_in(v, choices):
            raise expect(f"one of {' | '.join(choices)}")(v, path)
        return v

    return check


_SIZE_RE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*(words?|B|KiB|MiB|GiB)\s*$")
_UNIT_BYTES = {"B": 1, "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3}
SIZE_HELP = "a size like '108 KiB', '512 B' or '256 words'"


def size_in_words(word_bits: int) -> Validator:
    """Capacity in words from a plain int (words) or '<n> words|B|KiB|MiB|GiB'."""

    def check(v: Any, path: str) -> int:
        if is_int(v):
            if v < 1:
                raise expect(f"{SIZE_HELP} (a plain integer counts words and must be >= 1)")(v, path)
            return v
        m = _SIZE_RE.match(v) if isinstance(v, str) else None
        if not m:
            raise expect(SIZE_HELP)(v, path)
        amount, unit = Fraction(m.group(1)), m.group(2)
        if unit.startswith("word"):
            words = amount
        else:
            if word_bits % 8:
                raise Invalid(path, f"sizes in bytes need word_bits to be a multiple of 8 "
                                    f"(word_bits is {word_bits}); expected a size in words")
            words = amount * _UNIT_BYTES[unit] * 8 / word_bits
        if words.denominator != 1 or words < 1:
            raise Invalid(path, f"expected a whole, positive number of {word_bits}-bit words, "
                                f"got {v!r} = {float(words):g} words")
        return int(words)

    return check


def mapping_of(value_check: Validator, what: str) -> Validator:
    """A YAML mapping with name keys, each value checked by ``value_check``; order kept."""

    def check(v: Any, path: str) -> tuple[tuple[str, Any], ...]:
        if not isinstance(v, dict):
            raise expect(what)(v, path)
        return tuple((name_str(k, path), value_check(x, at(path, str(k)))) for k, x in v.items())

    return check


def check_keys(obj: Any, allowed: tuple[str, ...], path: str, what: str = "a mapping") -> dict:
    """``obj`` must be a YAML mapping whose keys are all in ``allowed``."""
    if not isinstance(obj, dict):
        raise expect(f"{what} with keys {', '.join(allowed)}")(obj, path)
    for k in obj:
        if k not in allowed:
            close = difflib.get_close_matches(str(k), allowed, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            shown = str(k) if str(k).strip() else repr(k)  # an empty or blank key is shown quoted
            raise Invalid(at(path, shown), f"unknown key{hint}; expected one of: {', '.join(allowed)}")
    return obj


def req(obj: dict, key: str, check: Validator, path: str) -> Any:
    """The required field ``key`` of ``obj``, checked."""
    if key not in obj:
        raise Invalid(at(path, key), f"missing required field ({describe(check)})")
    return check(obj[key], at(path, key))


def opt(obj: dict, key: str, check: Validator, path: str, default: Any = None) -> Any:
    """The optional field ``key`` of ``obj``, checked, else ``default``."""
    return default if key not in obj else check(obj[key], at(path, key))


def describe(check: Validator) -> str:
    """What a validator expects, for 'missing field' messages (probe it with a bad value)."""
    try:
        check(MISSING, "")
    except Invalid as e:
        return e.message.split(", got ")[0]
    return "a value"


def with_file(file: str, fn: Callable[..., Any], *args: Any) -> Any:
    """Call a validating function; its :class:`Invalid` becomes a SpecError of ``file``."""
    try:
        return fn(*args)
    except Invalid as e:
        raise SpecError(file, e.field, e.message) from None


def from_core(path: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call a core constructor; its ValueError becomes an error at ``path``."""
    try:
        return fn(*args, **kwargs)
    except ValueError as e:
        raise Invalid(path, str(e)) from None


def top(obj: Any, key: str, allowed: tuple[str, ...]) -> dict:
    """The body under the top-level ``key`` of a spec file."""
    if not isinstance(obj, dict) or key not in obj:
        raise Invalid("", f"expected a mapping with top-level key {key!r}, got {show(obj)}")
    check_keys(obj, (key,), "")
    return check_keys(obj[key], allowed, key)

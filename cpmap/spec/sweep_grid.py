"""The design points of a sweep: the ``vary:`` section of a sweep file, and the
architecture of every point derived from the base one (docs/sweep.md).

Points are the Cartesian product of the varied parameters in the file's order (capacities
per level, fanout shapes, node counts, the extra level), the last one varying fastest;
each point's architecture is the base one with those changes, its varied sizes priced by
the energy table unless the file gives their energies.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, replace
from typing import Any

from ..core.arch import Arch, Fanout, Level
from ..core.energy_table import EnergyTable
from .fields import (
    Invalid,
    at,
    check_keys,
    energy_pj,
    expect,
    from_core,
    mapping_of,
    name_str,
    opt,
    pos_int,
    req,
    show,
    size_in_words,
    tensor_set,
)

VARY_KEYS = ("capacity", "fanout", "nodes", "extra_level")
SIZE_KEYS = ("size", "read_energy_pj", "write_energy_pj")
RANGE_KEYS = ("from", "to", "factor", "step")
NODES_KEYS = ("counts", "energy_pj_per_word")
EXTRA_KEYS = ("name", "inside", "keeps", "sizes")
NODE_FANOUT, NODE_AXIS = "NODE", "N"
MAX_POINTS = 10_000
"""Largest grid a sweep file may describe (each point is a whole network solve)."""


@dataclass(frozen=True)
class SizeChoice:
    """One size of a varied level (words per instance); energies None: from the table."""

    words: int
    path: str
    read_pj: float | None = None
    write_pj: float | None = None


@dataclass(frozen=True)
class ExtraLevel:
    """A level inserted directly inside level ``inside`` (so the new one is private to
    each instance of whatever ``inside``'s fanout replicates); a None size: no level."""

    name: str
    inside: str
    keeps: frozenset[str]
    sizes: tuple[SizeChoice | None, ...]


@dataclass(frozen=True)
class Vary:
    capacity: tuple[tuple[str, tuple[SizeChoice, ...]], ...] = ()
    fanout: tuple[tuple[str, tuple[tuple[tuple[str, int], ...], ...]], ...] = ()
    nodes: tuple[int, ...] = ()
    node_energy_pj: float = 0.0
    extra_level: ExtraLevel | None = None


@dataclass(frozen=True)
class AreaModel:
    """Area proxy: mm2 per KiB of each on-chip level (all instances) + mm2 per PE."""

    mm2_per_kib: tuple[tuple[str, float], ...]
    mm2_per_pe: float = 0.0


@dataclass(frozen=True)
class DesignPoint:
    """One architecture of the sweep.  ``params``: the value of each varied parameter (as
    labels, in the order of the sweep's ``parameters``); ``onchip_bytes``: every level but
    the outermost, all instances; ``area_mm2``: the area proxy, None without a model."""

    index: int
    name: str
    params: tuple[str, ...]
    arch: Arch
    onchip_bytes: int
    area_mm2: float | None = None


# --------------------------------------------------------------------------- parsing


def parse_vary(base: Arch):
    """The validator of ``sweep.vary`` against the base architecture."""

    def check(v: Any, path: str) -> Vary:
        body = check_keys(v, VARY_KEYS, path, "the parameters to vary")
        if not body:
            raise Invalid(path, f"expected at least one of {', '.join(VARY_KEYS)}")
        capacity = opt(body, "capacity", mapping_of(_sizes(base), "a mapping level -> sizes like {RF: [32 B, 64 B]}"),
                       path, ())
        for name, _ in capacity:
            _bounded_level(base, name, at(at(path, "capacity"), name))
        fanout = opt(body, "fanout", mapping_of(_shapes, "a mapping fanout -> shapes like {PE: [{Y: 16, X: 16}]}"),
                     path, ())
        fan_names = [lv.fanout.name for lv in base.levels if lv.fanout is not None]
        for name, _ in fanout:
            if name not in fan_names:
                raise Invalid(at(at(path, "fanout"), name),
                              f"expected a fanout of {base.name} ({', '.join(fan_names) or 'none'})")
        nodes, node_pj = opt(body, "nodes", _nodes(base), path, ((), 0.0))
        extra = opt(body, "extra_level", _extra(base, dict(capacity)), path)
        return Vary(capacity, fanout, nodes, node_pj, extra)

    return check


def _bounded_level(base: Arch, name: str, path: str) -> Level:
    if name not in base.level_names[:-1]:
        raise Invalid(path, f"expected a level of {base.name} with a capacity ({', '.join(base.level_names[:-1])})")
    lv = base.levels[base.level_index(name)]
    if lv.partitions is not None:
        raise Invalid(path, f"expected a level with a shared capacity; {name} has partitions")
    return lv


def _sizes(base: Arch):
    def check(v: Any, path: str) -> tuple[SizeChoice, ...]:
        if isinstance(v, dict):
            return _range(v, path, base.word_bits)
        if not isinstance(v, list) or not v:
            raise expect("a list of sizes like [32 B, 64 B] or a range {from: 32 KiB, to: 512 KiB, factor: 2}")(v, path)
        out = tuple(_size_choice(x, f"{path}[{i}]", base.word_bits) for i, x in enumerate(v))
        _distinct(out, path)
        return out

    return check


def _distinct(choices, path: str) -> None:
    seen = set()
    for i, c in enumerate(choices):
        key = None if c is None else (c.words, c.read_pj, c.write_pj)
        if key in seen:
            raise Invalid(f"{path}[{i}]", "expected each size once")
        seen.add(key)


def _size_choice(v: Any, path: str, word_bits: int) -> SizeChoice:
    if not isinstance(v, dict):
        return SizeChoice(size_in_words(word_bits)(v, path), path)
    body = check_keys(v, SIZE_KEYS, path, "a size, or {size, read_energy_pj, write_energy_pj}")
    words = req(body, "size", size_in_words(word_bits), path)
    read = req(body, "read_energy_pj", energy_pj, path)
    return SizeChoice(words, path, float(read), float(opt(body, "write_energy_pj", energy_pj, path, read)))


def _range(v: dict, path: str, word_bits: int) -> tuple[SizeChoice, ...]:
    body = check_keys(v, RANGE_KEYS, path, "a range {from, to, factor} or {from, to, step}")
    lo = req(body, "from", size_in_words(word_bits), path)
    hi = req(body, "to", size_in_words(word_bits), path)
    if hi < lo:
        raise Invalid(at(path, "to"), f"expected a size >= from, got {show(body['to'])}")
    if ("factor" in body) == ("step" in body):
        raise Invalid(path, "expected exactly one of factor (geometric: from, from x factor, ...) or step "
                            "(arithmetic: from, from + step, ...)")
    words = [lo]
    if "factor" in body:
        factor = body["factor"]
        if not isinstance(factor, int) or isinstance(factor, bool) or factor < 2:
            raise expect("an integer >= 2")(factor, at(path, "factor"))
        while words[-1] * factor <= hi and len(words) <= MAX_POINTS:
            words.append(words[-1] * factor)
    else:
        step = req(body, "step", size_in_words(word_bits), path)
        while words[-1] + step <= hi and len(words) <= MAX_POINTS:
            words.append(words[-1] + step)
    if len(words) > MAX_POINTS:
        raise Invalid(path, f"expected at most {MAX_POINTS} sizes")
    return tuple(SizeChoice(w, path) for w in words)


def _shapes(v: Any, path: str) -> tuple[tuple[tuple[str, int], ...], ...]:
    if not isinstance(v, list) or not v:
        raise expect("a list of shapes like [{Y: 16, X: 16}, {Y: 8, X: 32}]")(v, path)
    out = []
    for i, shape in enumerate(v):
        axes = mapping_of(pos_int, "a shape like {Y: 16, X: 16}")(shape, f"{path}[{i}]")
        if not axes:
            raise Invalid(f"{path}[{i}]", "expected at least one axis like {Y: 16}")
        if axes in out:
            raise Invalid(f"{path}[{i}]", "expected each shape once")
        out.append(axes)
    return tuple(out)


def _nodes(base: Arch):
    def check(v: Any, path: str) -> tuple[tuple[int, ...], float]:
        if base.levels[-1].fanout is not None:
            raise Invalid(path, f"expected no nodes: {base.levels[-1].name} already has a fanout "
                                f"({base.levels[-1].fanout.name}); vary it with fanout: instead")
        pj = 0.0
        if isinstance(v, dict):
            body = check_keys(v, NODES_KEYS, path, "node counts")
            pj = float(opt(body, "energy_pj_per_word", energy_pj, path, 0.0))
            v, path = req(body, "counts", lambda x, p: x, path), at(path, "counts")
        if not isinstance(v, list) or not v:
            raise expect("a list of node counts like [1, 2, 4]")(v, path)
        counts = tuple(pos_int(x, f"{path}[{i}]") for i, x in enumerate(v))
        if len(set(counts)) != len(counts):
            raise Invalid(path, "expected each node count once")
        return counts, pj

    return check


def _extra(base: Arch, varied: dict):
    def check(v: Any, path: str) -> ExtraLevel:
        body = check_keys(v, EXTRA_KEYS, path, "an extra level")
        name = req(body, "name", name_str, path)
        taken = set(base.level_names) | {lv.fanout.name for lv in base.levels if lv.fanout} | {NODE_FANOUT}
        if name in taken:
            raise Invalid(at(path, "name"), f"expected a new name (not one of {', '.join(sorted(taken))})")
        inside = opt(body, "inside", name_str, path, base.levels[0].name)
        if inside not in base.level_names:
            raise Invalid(at(path, "inside"), f"expected a level of {base.name} ({', '.join(base.level_names)})")
        keeps = opt(body, "keeps", tensor_set, path, frozenset(("W", "I", "O")))
        raw = body.get("sizes")
        sp = at(path, "sizes")
        if not isinstance(raw, list) or not raw:
            raise expect("a list of sizes like [null, 16 B, 32 B] (null: without the level)")(raw, sp)
        sizes = tuple(None if x is None else _size_choice(x, f"{sp}[{i}]", base.word_bits) for i, x in enumerate(raw))
        _distinct(sizes, sp)
        return ExtraLevel(name, inside, keeps, sizes)

    return check


# --------------------------------------------------------------------------- points


def size_label(words: int, word_bits: int) -> str:
    """A size as bytes (B, KiB, MiB) when whole, else words."""
    bits = words * word_bits
    if bits % 8:
        return f"{words} words"
    n = bits // 8
    for unit, scale in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale and n % scale == 0:
            return f"{n // scale} {unit}"
    return f"{n} B"


def _choice_label(c: SizeChoice | None, word_bits: int) -> str:
    if c is None:
        return "none"
    label = size_label(c.words, word_bits)
    return label if c.read_pj is None else f"{label} ({c.read_pj:g}/{c.write_pj:g} pJ)"


def _energies(c: SizeChoice, base_level: Level | None, table: EnergyTable | None, word_bits: int) -> tuple:
    if c.read_pj is not None:
        return c.read_pj, c.write_pj
    if table is None:
        if base_level is None:
            raise Invalid(c.path, "expected {size, read_energy_pj, write_energy_pj}: an inserted level needs "
                                  "energies when energy_table is none")
        return base_level.read_pj, base_level.write_pj
    try:
        pj = table.energy_pj(c.words * word_bits // 8)  # table word_bits == arch's, a multiple of 8
    except ValueError as e:
        raise Invalid(c.path, f"expected a size inside the energy table: {e}") from None
    return pj, pj


def build_points(base: Arch, vary: Vary, table: EnergyTable | None, area: AreaModel | None):
    """(points, parameter names): every combination's architecture, built and checked."""
    axes: list[tuple[str, list]] = [(name, list(cs)) for name, cs in vary.capacity]
    axes += [(name, list(shapes)) for name, shapes in vary.fanout]
    if vary.nodes:
        axes.append(("nodes", list(vary.nodes)))
    if vary.extra_level is not None:
        axes.append((vary.extra_level.name, list(vary.extra_level.sizes)))
    total = math.prod(len(values) for _, values in axes)
    if total > MAX_POINTS:
        raise Invalid("sweep.vary", f"expected at most {MAX_POINTS} design points, got {total}")
    width = max(3, len(str(total - 1)))
    points = []
    for index, combo in enumerate(itertools.product(*(values for _, values in axes))):
        arch, labels = _derive(base, vary, table, dict(zip((n for n, _ in axes), combo)))
        onchip = onchip_bytes(arch)
        points.append(DesignPoint(index, f"p{index:0{width}d}", labels, arch, onchip, _area(arch, area)))
    return tuple(points), tuple(n for n, _ in axes)


def _derive(base: Arch, vary: Vary, table: EnergyTable | None, chosen: dict) -> tuple[Arch, tuple[str, ...]]:
    levels = list(base.levels)
    labels = []
    for name, _ in vary.capacity:
        c: SizeChoice = chosen[name]
        i = base.level_index(name)
        read, write = _energies(c, levels[i], table, base.word_bits)
        levels[i] = from_core(c.path, replace, levels[i], capacity=c.words, read_pj=read, write_pj=write)
        labels.append(_choice_label(c, base.word_bits))
    for name, _ in vary.fanout:
        axes = chosen[name]
        i = next(k for k, lv in enumerate(levels) if lv.fanout is not None and lv.fanout.name == name)
        levels[i] = replace(levels[i], fanout=from_core(f"sweep.vary.fanout.{name}", replace, levels[i].fanout,
                                                        axes=axes))
        labels.append("x".join(f"{a}{n}" for a, n in axes))
    if vary.nodes:
        n = chosen["nodes"]
        if n > 1:
            levels[-1] = replace(levels[-1], fanout=Fanout(NODE_FANOUT, ((NODE_AXIS, n),), True, True,
                                                           vary.node_energy_pj))
        labels.append(str(n))
    extra = vary.extra_level
    if extra is not None:
        c = chosen[extra.name]
        if c is not None:
            read, write = _energies(c, None, table, base.word_bits)
            new = from_core(c.path, Level, extra.name, extra.keeps, read, write, capacity=c.words)
            levels.insert(base.level_index(extra.inside), new)
        labels.append(_choice_label(c, base.word_bits))
    arch = from_core("sweep.vary", Arch, base.name, base.word_bits, base.mac_pj, tuple(levels),
                     base.static_pj_per_cycle)  # every point keeps the base's static energy
    return arch, tuple(labels)


def instances(arch: Arch, i: int) -> int:
    """Instances of level ``i``: the product of the fanouts above it."""
    return math.prod(lv.fanout.size for lv in arch.levels[i + 1:] if lv.fanout is not None)


def _level_words(lv: Level) -> int:
    return lv.capacity if lv.capacity is not None else sum(w for _, w in lv.partitions)


def onchip_bytes(arch: Arch) -> int:
    """Bytes of every level but the outermost, over all instances (the capacity proxy)."""
    bits = sum(_level_words(lv) * instances(arch, i) for i, lv in enumerate(arch.levels[:-1])) * arch.word_bits
    return bits // 8


def _area(arch: Arch, area: AreaModel | None) -> float | None:
    if area is None:
        return None
    per_kib = dict(area.mm2_per_kib)
    missing = [lv.name for lv in arch.levels[:-1] if lv.name not in per_kib]
    if missing:
        raise Invalid("sweep.area.mm2_per_kib", f"expected an entry for every on-chip level, missing "
                                                f"{', '.join(missing)}")
    kib = {lv.name: _level_words(lv) * instances(arch, i) * arch.word_bits / 8 / 1024
           for i, lv in enumerate(arch.levels[:-1])}
    return sum(per_kib[n] * k for n, k in kib.items()) + area.mm2_per_pe * arch.pes

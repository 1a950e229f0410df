"""Architecture files -> :class:`~cpmap.core.arch.Arch` (format: docs/specs.md)."""

from __future__ import annotations

from typing import Any

from ..core.arch import Arch, Fanout, Level
from ..core.problem import TENSORS
from .fields import (
    SIZE_HELP,
    Invalid,
    at,
    boolean,
    check_keys,
    energy_pj,
    expect,
    from_core,
    mapping_of,
    name_str,
    opt,
    pos_int,
    pos_number,
    req,
    size_in_words,
    tensor_set,
    top,
    with_file,
)
from .loader import read_yaml

_ARCH_KEYS = ("name", "word_bits", "mac_energy_pj", "levels")
_LEVEL_KEYS = ("name", "capacity", "partitions", "keeps", "read_energy_pj", "write_energy_pj",
               "read_bandwidth", "write_bandwidth", "fanout")
_FANOUT_KEYS = ("name", "axes", "multicast", "reduction", "energy_pj_per_word")


def load_arch(path: str) -> Arch:
    """Load an architecture file (see docs/specs.md)."""
    return arch_from_obj(read_yaml(path), str(path))


def arch_from_obj(obj: Any, file: str = "<architecture>") -> Arch:
    return with_file(file, _arch, obj)


def _arch(obj: Any) -> Arch:
    body = top(obj, "architecture", _ARCH_KEYS)
    name = req(body, "name", name_str, "architecture")
    word_bits = req(body, "word_bits", pos_int, "architecture")
    mac_pj = req(body, "mac_energy_pj", energy_pj, "architecture")
    raw = req(body, "levels", _level_list, "architecture")
    _check_innermost_first(raw)
    levels = tuple(_level(lv, f"architecture.levels[{i}]", word_bits, outermost=i == len(raw) - 1)
                   for i, lv in enumerate(raw))
    return from_core("architecture.levels", Arch, name, word_bits, mac_pj, levels)


def _level_list(v: Any, path: str) -> list:
    if not isinstance(v, list) or len(v) < 2:
        raise expect("a list of at least two levels, innermost first")(v, path)
    return v


def _bounded(level: Any) -> bool:
    return isinstance(level, dict) and ("capacity" in level or "partitions" in level)


def _check_innermost_first(raw: list) -> None:
    """Catch the common mistake of listing levels outermost first (DRAM first)."""
    if _bounded(raw[-1]) and isinstance(raw[0], dict) and not _bounded(raw[0]):
        raise Invalid("architecture.levels",
                       "expected levels innermost first, the unbounded outermost level (e.g. DRAM) "
                       f"last; levels[0] ({raw[0].get('name')}) has no capacity but the last level has one")


def _level(obj: Any, path: str, word_bits: int, outermost: bool) -> Level:
    body = check_keys(obj, _LEVEL_KEYS, path, "a level")
    name = req(body, "name", name_str, path)
    keeps = req(body, "keeps", tensor_set, path)
    capacity = opt(body, "capacity", size_in_words(word_bits), path)
    partitions = opt(body, "partitions", mapping_of(size_in_words(word_bits), "a mapping tensor -> size"), path)
    _check_bounds(body, path, outermost)
    if partitions is not None and {t for t, _ in partitions} != keeps:
        raise Invalid(at(path, "partitions"), f"expected one partition per kept tensor "
                       f"({', '.join(t for t in TENSORS if t in keeps)}), got {', '.join(t for t, _ in partitions)}")
    fanout = opt(body, "fanout", _fanout, path)
    return from_core(path, Level, name, keeps,
                 read_pj=req(body, "read_energy_pj", energy_pj, path),
                 write_pj=req(body, "write_energy_pj", energy_pj, path),
                 capacity=capacity, partitions=partitions,
                 read_bandwidth=opt(body, "read_bandwidth", pos_number, path),
                 write_bandwidth=opt(body, "write_bandwidth", pos_number, path),
                 fanout=fanout)


def _check_bounds(body: dict, path: str, outermost: bool) -> None:
    """Only the outermost level is unbounded; every other level needs exactly one of
    capacity (shared) and partitions (per tensor)."""
    given = [k for k in ("capacity", "partitions") if k in body]
    if outermost and given:
        raise Invalid(at(path, given[0]), "expected no capacity: the outermost level is unbounded")
    if not outermost and not given:
        raise Invalid(at(path, "capacity"), f"missing required field ({SIZE_HELP}, or "
                       "partitions: {W: .., I: .., O: ..}); only the outermost level is unbounded")
    if len(given) == 2:
        raise Invalid(at(path, "partitions"), "expected capacity or partitions, not both")


def _fanout(obj: Any, path: str) -> Fanout:
    body = check_keys(obj, _FANOUT_KEYS, path, "a fanout")
    axes = req(body, "axes", mapping_of(pos_int, "a mapping axis -> size like {Y: 12, X: 14}"), path)
    if not axes:
        raise Invalid(at(path, "axes"), "expected at least one axis like {Y: 12, X: 14}")
    return from_core(path, Fanout, req(body, "name", name_str, path), axes,
                 multicast=opt(body, "multicast", boolean, path, True),
                 reduction=opt(body, "reduction", boolean, path, True),
                 energy_pj=opt(body, "energy_pj_per_word", energy_pj, path, 0.0))




def arch_to_obj(arch: Arch) -> dict:
    """The YAML structure of ``arch`` (the inverse of :func:`arch_from_obj`; sizes in words)."""
    levels = []
    for lv in arch.levels:
        out: dict[str, Any] = {"name": lv.name}
        if lv.capacity is not None:
            out["capacity"] = lv.capacity
        if lv.partitions is not None:
            out["partitions"] = dict(lv.partitions)
        out |= {"keeps": [t for t in TENSORS if t in lv.keeps], "read_energy_pj": lv.read_pj,
                "write_energy_pj": lv.write_pj}
        for key in ("read_bandwidth", "write_bandwidth"):
            if getattr(lv, key) is not None:
                out[key] = getattr(lv, key)
        if lv.fanout is not None:
            f = lv.fanout
            out["fanout"] = {"name": f.name, "axes": dict(f.axes), "multicast": f.multicast,
                             "reduction": f.reduction, "energy_pj_per_word": f.energy_pj}
        levels.append(out)
    return {"architecture": {"name": arch.name, "word_bits": arch.word_bits, "mac_energy_pj": arch.mac_pj,
                             "levels": levels}}

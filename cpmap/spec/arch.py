"""Architecture files -> :class:`~cpmap.core.arch.Arch` (format: docs/specs.md)."""

from __future__ import annotations

from typing import Any

from ..core.arch import PLACEMENTS, TOPOLOGIES, Arch, Fanout, Level, MeshMemory
from ..core.problem import TENSORS
from .fields import (
    SIZE_HELP,
    Invalid,
    at,
    bandwidth_words,
    boolean,
    check_keys,
    choice,
    energy_pj,
    expect,
    from_core,
    is_int,
    mapping_of,
    name_str,
    opt,
    pos_int,
    req,
    size_in_words,
    tensor_set,
    top,
    with_file,
)
from .loader import read_yaml

_ARCH_KEYS = ("name", "word_bits", "mac_energy_pj", "static_energy_pj_per_cycle", "levels")
_LEVEL_KEYS = ("name", "capacity", "partitions", "keeps", "read_energy_pj", "write_energy_pj",
               "read_bandwidth", "write_bandwidth", "fanout", "memory", "channel_bandwidth")
_FANOUT_KEYS = ("name", "axes", "multicast", "reduction", "energy_pj_per_word", "topology", "hop_energy_pj",
                "forwarding", "sharing")
_MEMORY_HELP = "corners, per_node or a list of [row, column] channel coordinates"


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
    static = opt(body, "static_energy_pj_per_cycle", energy_pj, "architecture", 0.0)
    return from_core("architecture.levels", Arch, name, word_bits, mac_pj, levels, static_pj_per_cycle=static)


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
    memory = _memory(body, path, fanout)
    return from_core(path, Level, name, keeps,
                 read_pj=req(body, "read_energy_pj", energy_pj, path),
                 write_pj=req(body, "write_energy_pj", energy_pj, path),
                 capacity=capacity, partitions=partitions,
                 read_bandwidth=opt(body, "read_bandwidth", bandwidth_words, path),
                 write_bandwidth=opt(body, "write_bandwidth", bandwidth_words, path),
                 fanout=fanout, memory=memory)


def _memory(body: dict, path: str, fanout: Fanout | None) -> MeshMemory | None:
    """``memory`` and ``channel_bandwidth``: only on a level whose fanout is a mesh, and
    required there (hops depend on it: no silent default)."""
    mesh = fanout is not None and fanout.mesh
    for key in ("memory", "channel_bandwidth"):
        if key in body and not mesh:
            raise Invalid(at(path, key), "expected only on a level whose fanout has topology: mesh")
    if not mesh:
        return None
    raw = req(body, "memory", _placement, path)
    rows, cols = fanout.shape
    for k, (r, c) in enumerate(raw if isinstance(raw, tuple) else ()):
        if not (r < rows and c < cols):
            raise Invalid(f"{at(path, 'memory')}[{k}]", f"expected a node of the {rows}x{cols} mesh "
                          f"(row 0..{rows - 1}, column 0..{cols - 1}), got [{r}, {c}]")
    bandwidth = opt(body, "channel_bandwidth", bandwidth_words, path)
    if isinstance(raw, tuple):
        return from_core(at(path, "memory"), MeshMemory, "channels", raw, bandwidth)
    return from_core(at(path, "memory"), MeshMemory, raw, (), bandwidth)


def _placement(v: Any, path: str) -> str | tuple[tuple[int, int], ...]:
    if isinstance(v, str):
        return choice(tuple(p for p in PLACEMENTS if p != "channels"))(v, path)
    if not isinstance(v, list) or not v:
        raise expect(_MEMORY_HELP)(v, path)
    out: dict[tuple[int, int], None] = {}  # ordered, and a set: a hostile file may list 50,000
    for k, rc in enumerate(v):
        if not (isinstance(rc, list) and len(rc) == 2 and all(is_int(x) and x >= 0 for x in rc)):
            raise expect("a channel coordinate [row, column] of integers >= 0")(rc, f"{path}[{k}]")
        if tuple(rc) in out:
            raise Invalid(f"{path}[{k}]", f"expected each channel once, got {rc} twice")
        out[tuple(rc)] = None
    return tuple(out)


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
    topology = opt(body, "topology", choice(TOPOLOGIES), path, "flat")
    if topology == "mesh" and len(axes) != 2:
        raise Invalid(at(path, "axes"), f"expected two axes for a mesh, rows then columns, like "
                      f"{{NY: 4, NX: 4}}, got {len(axes)}")
    if topology == "mesh" and "hop_energy_pj" not in body:
        raise Invalid(at(path, "hop_energy_pj"), "missing required field for a mesh (pJ per word per hop)")
    if topology != "mesh" and "hop_energy_pj" in body:
        raise Invalid(at(path, "hop_energy_pj"), "expected only with topology: mesh")
    for option in ("forwarding", "sharing"):
        if topology != "mesh" and option in body:
            raise Invalid(at(path, option), "expected only with topology: mesh")
    return from_core(path, Fanout, req(body, "name", name_str, path), axes,
                 multicast=opt(body, "multicast", boolean, path, True),
                 reduction=opt(body, "reduction", boolean, path, True),
                 energy_pj=opt(body, "energy_pj_per_word", energy_pj, path, 0.0),
                 topology=topology, hop_energy_pj=opt(body, "hop_energy_pj", energy_pj, path, 0.0),
                 forwarding=opt(body, "forwarding", boolean, path, False),
                 sharing=opt(body, "sharing", boolean, path, False))




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
            if f.mesh:
                out["fanout"] |= {"topology": "mesh", "hop_energy_pj": f.hop_energy_pj}
            out["fanout"] |= {k: True for k in ("forwarding", "sharing") if getattr(f, k)}
        if lv.memory is not None:
            m = lv.memory
            if m.mesh_shape is not None:  # a spec cannot place a region: refuse rather than drop it
                raise ValueError(f"{arch.name}: a region of a mesh (cpmap.core.region) has no spec form")
            out["memory"] = [list(rc) for rc in m.channels] if m.placement == "channels" else m.placement
            if m.bandwidth is not None:
                out["channel_bandwidth"] = m.bandwidth
        levels.append(out)
    body = {"name": arch.name, "word_bits": arch.word_bits, "mac_energy_pj": arch.mac_pj}
    if arch.static_pj_per_cycle:
        body["static_energy_pj_per_cycle"] = arch.static_pj_per_cycle
    return {"architecture": body | {"levels": levels}}

"""The text report of one evaluated mapping (``cpmap evaluate``; the JSON form is
``Result.to_json()``).  Levels are listed outer to inner, the order mapping files are
written in."""

from __future__ import annotations

from ..core.arch import Arch
from ..core.partition import schemes_of
from ..core.problem import TENSORS, Problem
from .tables import fmt_count, fmt_pj, table


def format_result(result, problem: Problem | None = None, arch: Arch | None = None, mapping=None) -> str:
    """A readable multi-section report of a :class:`cpmap.cost.evaluator.Result`.  ``problem``
    and ``arch`` (optional) add the title and fix the row and column order; with
    ``mapping`` too, the partition of each mesh fanout (:func:`partition_lines`)."""
    levels = _level_order(result, arch)
    tensors = _tensor_order(result, problem, levels)
    out = _summary(result, problem, arch)
    if mapping is not None and problem is not None and arch is not None:
        for text in partition_lines(problem, arch, mapping):
            out += ["", *text]
    out += ["", *_energy_section(result, levels, tensors)]
    out += ["", *_access_section(result, levels, tensors)]
    if result.network_words:
        out += ["", *_network_section(result)]
    if getattr(result, "noc", None):
        out += ["", *_noc_section(result, tensors, arch)]
    if result.errors:
        out += ["", f"Invalid mapping ({len(result.errors)} error(s)):"]
        out += [f"  - {e}" for e in result.errors]
    return "\n".join(out) + "\n"


def _level_order(result, arch: Arch | None) -> list[str]:
    names = list(arch.level_names) if arch is not None else list(result.accesses)
    return list(reversed(names))  # outer to inner


def _tensor_order(result, problem: Problem | None, levels: list[str]) -> list[str]:
    if problem is not None:
        return list(problem.tensor_names)
    present = {t for lv in levels for t in result.accesses.get(lv, {})}
    return [t for t in TENSORS if t in present]


def _summary(result, problem: Problem | None, arch: Arch | None) -> list[str]:
    what = f"layer {problem.name} ({problem.kind})" if problem is not None else "mapping"
    where = f" on {arch.name}" if arch is not None else ""
    status = "valid" if result.valid else "INVALID"
    per_mac = result.energy_pj / result.macs if result.macs else 0.0
    pes = f" of {arch.pes:,} PEs" if arch is not None else ""
    nodes = []
    for fan, noc in (getattr(result, "noc", None) or {}).items():
        size = next((lv.fanout.size for lv in arch.levels if lv.fanout is not None and lv.fanout.name == fan),
                    None) if arch is not None else None
        nodes.append(f"  nodes used   {noc['nodes_used']:,}" + (f" of {size:,}" if size else "") + f" ({fan})")
    static = [f"  static       {fmt_pj(result.static_pj)} pJ"] if getattr(result, "static_pj", 0) else []
    return [
        f"{what}{where}: {status}",
        f"  MACs         {fmt_count(result.macs)}",
        f"  energy       {fmt_pj(result.energy_pj)} pJ ({per_mac:,.3f} pJ/MAC)",
        f"  cycles       {fmt_count(result.cycles)} (compute {fmt_count(result.compute_cycles)})",
        f"  utilization  {result.utilization:.1%}{pes}",
        *nodes, *static,
    ]


def _energy_section(result, levels: list[str], tensors: list[str]) -> list[str]:
    bd = result.energy_breakdown
    total = result.energy_pj or 1.0

    def row(label: str, cells: list[str], value: float) -> list[str]:
        return [label, *cells, fmt_pj(value), f"{value / total:.1%}"]

    rows = []
    for lv in levels:
        per = bd.get(lv, {})
        rows.append(row(lv, [fmt_pj(per.get(t, 0.0)) for t in tensors], sum(per.values())))
    blank = [""] * len(tensors)
    for fan, pj in bd.get("network", {}).items():
        rows.append(row(f"network {fan}", blank, pj))
    for fan, pj in bd.get("noc", {}).items():
        rows.append(row(f"hops {fan}", blank, pj))
    if "static" in bd:
        rows.append(row("static", blank, bd["static"]))
    rows.append(row("MAC", blank, bd.get("mac", 0.0)))
    rows.append(row("total", blank, result.energy_pj))
    return ["Energy (pJ)", *table(["", *tensors, "total", "share"], rows)]


def _access_section(result, levels: list[str], tensors: list[str]) -> list[str]:
    rows = []
    for lv in levels:
        acc, tiles = result.accesses.get(lv, {}), result.tiles.get(lv, {})
        for t in tensors:
            counts = acc.get(t, {"reads": 0, "writes": 0})
            tile = fmt_count(tiles[t]) if t in tiles else "bypass"
            rows.append([f"{lv} {t}", fmt_count(counts["reads"]), fmt_count(counts["writes"]), tile])
    header = ["", "reads", "writes", "tile/instance"]
    return ["Accesses (words, all instances)", *table(header, rows)]


def _network_section(result) -> list[str]:
    net_pj = result.energy_breakdown.get("network", {})
    rows = [[fan, fmt_count(n), fmt_pj(net_pj.get(fan, 0.0))] for fan, n in result.network_words.items()]
    return ["Network (words per child)", *table(["", "words", "pJ"], rows)]


def _noc_section(result, tensors: list[str], arch: Arch | None = None) -> list[str]:
    """Word-hops and their energy per tensor on each mesh fanout (the energy needs
    ``arch``'s hop energy), and the words through each channel."""
    hop_pj = {lv.fanout.name: lv.fanout.hop_energy_pj for lv in (arch.levels if arch is not None else ())
              if lv.fanout is not None}
    rows = []
    for fan, noc in result.noc.items():
        hops = noc["hops"]
        for t in tensors:
            pj = fmt_pj(hops.get(t, 0) * hop_pj[fan]) if fan in hop_pj else ""
            rows.append([fan, t, fmt_count(hops.get(t, 0)), pj, ""])
        rows.append([fan, "total", fmt_count(sum(hops.values())), fmt_pj(noc["energy_pj"]),
                     _channels(noc["channel_words"])])
    header = ["", "tensor", "word-hops", "pJ", "words per channel"]
    forwarded = [f"  {fan} forwarded: {', '.join(noc['forward'])} (access forwarding: each node of a group "
                 "fetches 1/g of the tile from its nearest channel and multicasts it to the others)"
                 for fan, noc in result.noc.items() if noc.get("forward")]
    forwarded += [f"  {fan} shared: {', '.join(noc['share'])} (buffer sharing: one copy per group, 1/g at "
                  "each node; reads of it cross to the node holding the word)"
                  for fan, noc in result.noc.items() if noc.get("share")]
    return ["Mesh NoC (word-hops: words x links crossed, all instances)", *table(header, rows, left=2), *forwarded]


def partition_lines(problem: Problem, arch: Arch, mapping) -> list[list[str]]:
    """Per mesh fanout: the loops on each axis in mapping order (the first the most
    significant digit of the node's row or column, docs/cost-model.md section 10), their
    nn_dataflow scheme names (:mod:`cpmap.core.partition`) and the nodes used."""
    out = []
    for lv in arch.levels:
        if lv.fanout is None or not lv.fanout.mesh:
            continue
        spatial = dict(next((m.spatial for m in mapping.levels if m.level == lv.name), ()))
        used, rows = 1, []
        for (axis, size), side in zip(lv.fanout.axes, ("rows", "columns")):
            loops = spatial.get(axis, ())
            n = 1
            for _, f in loops:
                n *= f
            used *= n
            text = " x ".join(f"{d} {f}" for d, f in loops) or "-"
            names = ", ".join(schemes_of(problem.kind, [d for d, _ in loops])) or "idle"
            rows.append([f"{axis} ({size} {side})", text, names, f"{n} of {size}"])
        out.append([f"Partition of {lv.fanout.name} (below {lv.name}): {used} of {lv.fanout.size} nodes used",
                    *table(["axis", "loops (outer digit first)", "schemes", "used"], rows, left=3)])
    return out


def _channels(words: list[int]) -> str:
    """Words per channel in channel order; the busiest and the count when there are many
    (per-node memory on a large mesh; every channel is in the JSON)."""
    if len(words) <= 16:
        return " ".join(fmt_count(w) for w in words)
    return f"max {fmt_count(max(words))} (channel {words.index(max(words))} of {len(words)})"


def partition_text(problem: Problem, level_mapping) -> str:
    """One line: ``NY: N 2 x P 2 (batch, fmap); NX: K 4 (output)`` for a level's spatial
    entries ("one node" when there is none)."""
    return "; ".join(f"{axis}: {' x '.join(f'{d} {f}' for d, f in loops)} "
                     f"({', '.join(schemes_of(problem.kind, [d for d, _ in loops]))})"
                     for axis, loops in level_mapping.spatial) or "one node"

"""Human-readable reports of evaluation results (the JSON form is ``Result.to_json()``).

Levels are listed outer to inner, the order mapping files are written in.
"""

from __future__ import annotations

from .arch import Arch
from .problem import TENSORS, Problem


def _pj(x: float) -> str:
    return f"{x:,.2f}"


def _words(n: int) -> str:
    return f"{n:,}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    """Left-align the first column, right-align the others, two spaces between."""
    cols = list(zip(header, *rows))
    widths = [max(len(c) for c in col) for col in cols]

    def line(cells: list[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = (c.rjust(w) for c, w in zip(cells[1:], widths[1:]))
        return "  " + "  ".join([first, *rest]).rstrip()

    return [line(header), *(line(r) for r in rows)]


def format_result(result, problem: Problem | None = None, arch: Arch | None = None) -> str:
    """A readable multi-section report of a :class:`cpmap.evaluator.Result`.  ``problem``
    and ``arch`` (optional) add the title and fix the row and column order."""
    levels = _level_order(result, arch)
    tensors = _tensor_order(result, problem, levels)
    out = _summary(result, problem, arch)
    out += ["", *_energy_section(result, levels, tensors)]
    out += ["", *_access_section(result, levels, tensors)]
    if result.network_words:
        out += ["", *_network_section(result)]
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
    return [
        f"{what}{where}: {status}",
        f"  MACs         {_words(result.macs)}",
        f"  energy       {_pj(result.energy_pj)} pJ ({per_mac:,.3f} pJ/MAC)",
        f"  cycles       {_words(result.cycles)} (compute {_words(result.compute_cycles)})",
        f"  utilization  {result.utilization:.1%}{pes}",
    ]


def _energy_section(result, levels: list[str], tensors: list[str]) -> list[str]:
    bd = result.energy_breakdown
    total = result.energy_pj or 1.0

    def row(label: str, cells: list[str], value: float) -> list[str]:
        return [label, *cells, _pj(value), f"{value / total:.1%}"]

    rows = []
    for lv in levels:
        per = bd.get(lv, {})
        rows.append(row(lv, [_pj(per.get(t, 0.0)) for t in tensors], sum(per.values())))
    blank = [""] * len(tensors)
    for fan, pj in bd.get("network", {}).items():
        rows.append(row(f"network {fan}", blank, pj))
    rows.append(row("MAC", blank, bd.get("mac", 0.0)))
    rows.append(row("total", blank, result.energy_pj))
    return ["Energy (pJ)", *_table(["", *tensors, "total", "share"], rows)]


def _access_section(result, levels: list[str], tensors: list[str]) -> list[str]:
    rows = []
    for lv in levels:
        acc, tiles = result.accesses.get(lv, {}), result.tiles.get(lv, {})
        for t in tensors:
            counts = acc.get(t, {"reads": 0, "writes": 0})
            tile = _words(tiles[t]) if t in tiles else "bypass"
            rows.append([f"{lv} {t}", _words(counts["reads"]), _words(counts["writes"]), tile])
    header = ["", "reads", "writes", "tile/instance"]
    return ["Accesses (words, all instances)", *_table(header, rows)]


def _network_section(result) -> list[str]:
    net_pj = result.energy_breakdown.get("network", {})
    rows = [[fan, _words(n), _pj(net_pj.get(fan, 0.0))] for fan, n in result.network_words.items()]
    return ["Network (words per child)", *_table(["", "words", "pJ"], rows)]

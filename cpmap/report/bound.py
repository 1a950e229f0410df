"""``cpmap bound``'s table and JSON: per layer and for the network, the compulsory floor,
the certified bounds of energy and cycles, and each claim with its verdict."""

from __future__ import annotations

from ..network.bound import BoundReport, LayerBound, Verdict
from .tables import fmt_count, fmt_num, fmt_pct, table


def _verdict(v: Verdict) -> str:
    if v.claim is None:
        return ""
    if v.impossible is None:
        return "no bound"
    return f"IMPOSSIBLE ({fmt_pct(v.margin)} below)" if v.impossible else "possible"


def _row(r: LayerBound) -> list[str]:
    return [r.name, fmt_count(r.macs), fmt_num(r.floor.energy_pj), fmt_num(r.energy_bound), r.energy_status,
            fmt_num(r.energy.claim), _verdict(r.energy), fmt_count(r.floor.cycles),
            fmt_num(r.cycles_bound), fmt_num(r.cycles.claim), _verdict(r.cycles)]


def format_bounds(report: BoundReport, constrained: bool = False) -> str:
    header = ["layer", "MACs", "floor pJ", "bound pJ", "status", "claim pJ", "energy claim", "floor cyc",
              "bound cyc", "claim cyc", "cycles claim"]
    lines = table(header, [_row(r) for r in report.layers] + [_row(report.network)])
    lines.insert(len(lines) - 1, "")
    notes = ["", ("floor: every weight and input read from DRAM once, every output written once, every MAC; "
                  "cycles: MACs / PEs."),
             ("bound: the solver's certified lower bound (no mapping of the space costs less under "
              "docs/cost-model.md); network = the sum over layers.")]
    if constrained:
        notes.append("the solve spec constrains the mapping space: its bounds hold within those constraints only.")
    bad = [r for r in (*report.layers, report.network) if r.energy.impossible or r.cycles.impossible]
    if bad:
        notes.append(f"{len(bad)} claim(s) below the certified bound: impossible under this cost model.")
    return "\n".join(lines + notes) + "\n"


def _verdict_json(v: Verdict) -> dict:
    return {"claim": v.claim, "bound": v.bound, "impossible": v.impossible, "margin": v.margin}


def bounds_json(report: BoundReport) -> dict:
    def one(r: LayerBound) -> dict:
        return {"name": r.name, "macs": r.macs,
                "floor": {"energy_pj": r.floor.energy_pj, "dram_words": r.floor.dram_words, "cycles": r.floor.cycles},
                "energy": {"status": r.energy_status, "lower_bound_pj": r.energy_bound, "best_pj": r.energy_best,
                           "claim": _verdict_json(r.energy)},
                "cycles": {"status": r.cycles_status, "lower_bound": r.cycles_bound, "best": r.cycles_best,
                           "claim": _verdict_json(r.cycles)}}

    return {"layers": [one(r) for r in report.layers], "network": one(report.network),
            "interrupted": report.interrupted}

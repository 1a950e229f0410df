"""Claim files for ``cpmap bound --claim``: another tool's energies (and cycles) per layer.

A CSV file with a header row naming ``layer`` and ``energy_pj`` (and optionally ``cycles``);
``layer`` is a layer of the solve spec's workload or ``network`` for the whole network's
total.  Empty cells mean no claim.  Errors name the file, the line and what was expected.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass

from ..core.errors import SpecError

NETWORK = "network"
COLUMNS = ("layer", "energy_pj", "cycles")


@dataclass(frozen=True)
class Claim:
    layer: str
    energy_pj: float | None
    cycles: float | None


def read_claims(path: str, layer_names: tuple[str, ...]) -> dict[str, Claim]:
    """Claims by layer name (``network`` for the total)."""
    file = str(path)
    try:
        with open(file, encoding="utf-8", newline="") as fh:
            rows = list(csv.reader(fh))
    except OSError as e:
        raise SpecError(file, "", f"cannot read file: {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise SpecError(file, "", "expected a UTF-8 CSV file") from None
    rows = [r for r in rows if any(c.strip() for c in r)]
    if not rows:
        raise SpecError(file, "", "expected a CSV file with a header row: layer,energy_pj[,cycles]")
    header = [c.strip() for c in rows[0]]
    unknown = [c for c in header if c not in COLUMNS]
    if unknown or "layer" not in header or len(header) < 2:
        raise SpecError(file, "line 1", f"expected a header naming layer and energy_pj and/or cycles, got {','.join(header)}")
    out: dict[str, Claim] = {}
    for n, row in enumerate(rows[1:], 2):
        cells = dict(zip(header, (c.strip() for c in row)))
        name = cells.get("layer", "")
        if name != NETWORK and name not in layer_names:
            raise SpecError(file, f"line {n}", f"expected a layer of the workload or {NETWORK!r}, got {name!r}")
        if name in out:
            raise SpecError(file, f"line {n}", f"expected each layer once, got {name!r} again")
        out[name] = Claim(name, _number(cells.get("energy_pj"), file, n, "energy_pj"),
                          _number(cells.get("cycles"), file, n, "cycles"))
    return out


def _number(text: str | None, file: str, line: int, column: str) -> float | None:
    if text is None or text == "":
        return None
    try:
        value = float(text.replace("_", ""))
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise SpecError(file, f"line {line}.{column}", f"expected a number >= 0, got {text!r}")
    return value

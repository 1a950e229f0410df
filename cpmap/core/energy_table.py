"""Energy per access as a function of memory size, for design sweeps (docs/sweep.md).

A table gives the energy (pJ per access of one word of ``word_bits`` bits) at some sizes
(bytes).  Between two neighbouring sizes of one *segment* the energy is interpolated on a
power law -- a straight line in log(size), log(energy) -- which reproduces the bundled
table exactly: Interstellar's register files double their energy per doubling of size
(energy proportional to size), its SRAMs grow 1.5x per doubling (size ** log2 1.5).
Sizes below the first row, above the last, or between two segments (the bundled table's
register-file rows end at 512 B and its SRAM rows start at 32 KB) are refused: the table
says nothing there.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

Row = tuple[int, float]
"""(size in bytes, pJ per access)."""


@dataclass(frozen=True)
class EnergyTable:
    """Energies per access by size.  ``segments``: runs of (bytes, pJ) rows, each sorted by
    size, interpolated within a run only; ``word_bits``: the access width of the energies."""

    name: str
    word_bits: int
    segments: tuple[tuple[Row, ...], ...]

    def __post_init__(self) -> None:
        last = 0
        for seg in self.segments:
            if not seg:
                raise ValueError(f"energy table {self.name}: empty segment")
            for size, pj in seg:
                if size <= last:
                    raise ValueError(f"energy table {self.name}: sizes must increase, got {size} B after {last} B")
                if not (pj > 0 and math.isfinite(pj)):
                    raise ValueError(f"energy table {self.name}: energies must be > 0 pJ, got {pj}")
                last = size

    def ranges(self) -> str:
        """The sizes the table covers, for error messages."""
        return " or ".join(f"{_bytes(seg[0][0])} to {_bytes(seg[-1][0])}" for seg in self.segments)

    def energy_pj(self, size_bytes: int) -> float:
        """pJ per access of a memory of ``size_bytes``; ValueError outside the table."""
        for seg in self.segments:
            if seg[0][0] <= size_bytes <= seg[-1][0]:
                return _interpolate(seg, size_bytes)
        raise ValueError(f"{_bytes(size_bytes)} is outside energy table {self.name} ({self.ranges()}); "
                         "give the level's energies explicitly")


def _interpolate(seg: tuple[Row, ...], size: int) -> float:
    for (s0, e0), (s1, e1) in itertools.pairwise(seg):
        if s0 <= size <= s1:
            if size == s0:
                return e0
            if size == s1:
                return e1
            t = math.log(size / s0) / math.log(s1 / s0)
            return math.exp(math.log(e0) + t * math.log(e1 / e0))
    return seg[0][1]  # a one-row segment: only its own size


def _bytes(n: int) -> str:
    for unit, scale in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale and n % scale == 0:
            return f"{n // scale} {unit}"
    return f"{n} B"


KIB = 1024
INTERSTELLAR_TABLE_IV = EnergyTable(
    name="interstellar",
    word_bits=16,
    segments=(
        # register files (Table IV, left column)
        ((16, 0.03), (32, 0.06), (64, 0.12), (128, 0.24), (256, 0.48), (512, 0.96)),
        # SRAM buffers; the paper's "KB" are 1024 bytes, as in specs/interstellar.yaml
        ((32 * KIB, 6.0), (64 * KIB, 9.0), (128 * KIB, 13.5), (256 * KIB, 20.25), (512 * KIB, 30.375)),
    ),
)
"""Energy per 16-bit access from Interstellar's Table IV (Yang et al., ASPLOS 2020; also
../shared/reference/interstellar_tables.md): MAC 0.075 pJ and DRAM 200 pJ are not sizes
and stay the base architecture's."""

TABLES = {"interstellar": INTERSTELLAR_TABLE_IV}
"""Bundled tables by the name a sweep file gives."""

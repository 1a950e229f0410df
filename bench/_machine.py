"""What every benchmark records about the machine it ran on."""

from __future__ import annotations

from pathlib import Path


def loadavg() -> list[float] | None:
    """The 1, 5 and 15 minute load averages (None where /proc/loadavg is missing)."""
    try:
        return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]
    except OSError:
        return None


def loadavg_text() -> str:
    load = loadavg()
    return "unknown" if load is None else " ".join(f"{x:.2f}" for x in load)

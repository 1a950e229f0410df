"""The one-line progress display of a batch of solves (no progress-bar library: the ETA is
unique solves left x mean solve time / jobs, and the line carries the worst gap so far)."""

from __future__ import annotations

import math
import shutil
import sys
import time

from ..solve.layer import LayerSolution


def _clock(seconds: float) -> str:
    s = max(0, round(seconds))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


class Progress:
    """A one-line progress bar on stderr: layers done / total, solves running, elapsed,
    ETA and the worst certified gap so far.  Draws nothing unless ``enabled`` (the CLI
    enables it when stderr is a terminal and --quiet is not given)."""

    def __init__(self, total_layers: int, enabled: bool = True, stream=None):
        self.total = total_layers
        self.enabled = enabled
        self.stream = stream if stream is not None else sys.stderr
        self.start = time.monotonic()
        self.done = 0
        self.running = 0
        self.remaining_solves = 0
        self.jobs = 1
        self.time_limit = 0.0
        self.solve_times: list[float] = []
        self.worst_gap: float | None = None
        self.failed = 0
        self._last = 0.0
        self._drawn = False

    def plan(self, solves: int, jobs: int, time_limit: float) -> None:
        self.remaining_solves, self.jobs, self.time_limit = solves, max(1, jobs), time_limit
        self.draw(force=True)

    def finished(self, layers: int, solution: LayerSolution | None, solved_now: bool) -> None:
        self.done += layers
        if solved_now:
            self.remaining_solves = max(0, self.remaining_solves - 1)
            if solution is not None:
                self.solve_times.append(solution.solve_seconds)
        if solution is None or solution.best is None:
            self.failed += layers
        elif solution.gap is not None:
            self.worst_gap = max(self.worst_gap or 0.0, solution.gap)
        self.draw(force=True)

    def eta(self) -> float:
        per = (sum(self.solve_times) / len(self.solve_times)) if self.solve_times else self.time_limit
        return math.ceil(self.remaining_solves / self.jobs) * per

    def line(self) -> str:
        width = 20
        filled = int(width * self.done / self.total) if self.total else width
        bar = "#" * filled + "-" * (width - filled)
        parts = [f"solve [{bar}] {self.done}/{self.total} layers"]
        if self.running:
            parts.append(f"{self.running} running")
        parts.append(f"{_clock(time.monotonic() - self.start)} elapsed")
        if self.remaining_solves:
            parts.append(f"ETA ~{_clock(self.eta())}")
        if self.worst_gap is not None:
            parts.append(f"worst gap {self.worst_gap:.2%}")
        if self.failed:
            parts.append(f"{self.failed} without mapping")
        return "  ".join(parts)

    def draw(self, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._last < 0.5:
            return
        self._last = now
        cols = shutil.get_terminal_size((100, 20)).columns
        self.stream.write("\r" + self.line()[: max(10, cols - 1)] + "\x1b[K")
        self.stream.flush()
        self._drawn = True

    def close(self) -> None:
        if self.enabled and self._drawn:
            self.stream.write("\r\x1b[K")
            self.stream.flush()

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


def git_commit(root: Path) -> dict:
    """The commit of the checkout at ``root`` and whether cpmap/ has uncommitted changes
    (empty commit when git is missing)."""
    import subprocess

    def run(*cmd: str) -> str:
        try:
            return subprocess.run(cmd, cwd=root, capture_output=True, text=True, check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return ""

    return {"commit": run("git", "rev-parse", "HEAD"),
            "cpmap_dirty": bool(run("git", "status", "--porcelain", "--", "cpmap"))}

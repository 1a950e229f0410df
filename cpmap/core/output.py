"""Writing files and warnings: the one default output directory, the one warning
function, and atomic text writes (readers see the old file or the whole new one)."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from pathlib import Path

DEFAULT_OUTPUT_ROOT = "cpmap-out"
"""Report directories go under this directory (relative to the current one) by default."""


def default_output(spec_file: str, prefix: str = "") -> str:
    """``cpmap-out/<prefix><spec file stem>``: where a command writes its report."""
    stem = os.path.splitext(os.path.basename(spec_file))[0]
    return os.path.join(DEFAULT_OUTPUT_ROOT, f"{prefix}{stem}")


def warn(message: str) -> None:
    """A one-line warning on stderr (something was skipped; the command goes on)."""
    print(f"cpmap: warning: {message}", file=sys.stderr)


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that readers see the old file or the whole new one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise

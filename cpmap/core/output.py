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


TEMP_SUFFIX = ".tmp"
_UMASK = os.umask(0o022)
os.umask(_UMASK)  # read once, at import (os.umask can only be read by setting it)
FILE_MODE = 0o666 & ~_UMASK
"""Mode of written files: what open() would give.  mkstemp's temporary files are 0600, which
would leave a shared cache or report unreadable to everyone else."""


def _temp_prefix(path: Path) -> str:
    # the writer's pid is in the name, so that a later run can tell an orphan (its writer
    # was killed mid-write) from a write in progress in another process
    return f".{path.name}.{os.getpid()}."


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that readers see the old file or the whole new one
    (a hidden temporary file ``.<name>.<pid>.<random>.tmp`` in the same directory, then
    ``os.replace``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(path), suffix=TEMP_SUFFIX, dir=path.parent)
    try:
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def temp_path(path: Path) -> Path:
    """A fresh temporary path beside ``path`` named like :func:`atomic_write_text`'s, for
    writers that need a file name (e.g. matplotlib's savefig); rename it onto ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(path), suffix=TEMP_SUFFIX, dir=path.parent)
    os.fchmod(fd, FILE_MODE)
    os.close(fd)
    return Path(tmp)


def _writer_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. another user's process: alive
        return True
    return True


def remove_orphaned_temp_files(directories) -> int:
    """Delete the temporary files of atomic writes in ``directories`` whose writer process
    no longer runs (it was killed mid-write); returns how many.  Temporary files of live
    writers -- another run writing at the same time -- are left alone."""
    removed = 0
    for directory in directories:
        for tmp in Path(directory).glob(f".*{TEMP_SUFFIX}"):
            parts = tmp.name.split(".")
            pid = int(parts[-3]) if len(parts) >= 4 and parts[-3].isdigit() else None
            if pid is None or pid == os.getpid() or _writer_alive(pid):
                continue
            with contextlib.suppress(OSError):
                tmp.unlink()
                removed += 1
    return removed

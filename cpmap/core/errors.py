"""User-facing errors: each names the file, the field path and what was expected."""

from __future__ import annotations


class CpmapError(Exception):
    """Any error caused by user input; the CLI prints it on one line and exits non-zero."""


class SpecError(CpmapError):
    """A malformed spec file.  ``field`` is a dotted path such as ``levels[1].capacity``."""

    def __init__(self, file: str, field: str, message: str):
        self.file, self.field, self.message = file, field, message
        where = f"{file}: {field}" if field else file
        super().__init__(f"{where}: {message}")


class MappingError(CpmapError):
    """A mapping that does not describe the given problem on the given architecture
    (unknown names, factors that do not multiply to the dims)."""

    def __init__(self, errors: list[str], file: str | None = None):
        self.errors = list(errors)
        prefix = f"{file}: " if file else ""
        super().__init__(prefix + "; ".join(self.errors))

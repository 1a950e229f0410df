"""Exit codes of every ``cpmap`` command (docs in :mod:`cpmap.cli`)."""

EXIT_OK, EXIT_INVALID, EXIT_ERROR, EXIT_INTERRUPTED = 0, 1, 2, 130

"""Plain-text tables and number formats shared by every report."""

from __future__ import annotations


def table(header: list[str], rows: list[list[str]], left: int = 1) -> list[str]:
    """Lines of a table: the first ``left`` columns left-aligned, the others right-aligned,
    two spaces between columns, each line indented by two spaces."""
    widths = [max(len(c) for c in col) for col in zip(header, *rows)]

    def line(cells: list[str]) -> str:
        return "  " + "  ".join(c.ljust(w) if k < left else c.rjust(w)
                                for k, (c, w) in enumerate(zip(cells, widths))).rstrip()

    return [line(header), *(line(r) for r in rows)]


def fmt_pj(x: float) -> str:
    """An energy in pJ, two decimals with thousands separators."""
    return f"{x:,.2f}"


def fmt_count(n: int) -> str:
    """A count (words, cycles, MACs) with thousands separators; a fractional one (access
    forwarding's 1/g shares of words) with 2 decimals."""
    if isinstance(n, float) and not n.is_integer():
        return f"{n:,.2f}"
    return f"{n:,}"


def fmt_pct(x: float | None) -> str:
    """A fraction as a percentage, '-' when unknown."""
    return "-" if x is None else f"{x:.2%}"


def fmt_num(x: float | None, unit: str = "") -> str:
    """A number with two decimals and an optional unit, '-' when unknown."""
    return "-" if x is None else f"{x:,.2f}{unit}"

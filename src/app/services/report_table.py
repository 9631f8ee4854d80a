"""One small renderer for the operator reports (`portico health`): Markdown or aligned text."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal


__all__ = ["ReportFormat", "render_table"]

ReportFormat = Literal["markdown", "text"]


def render_table(
    title: str,
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    fmt: ReportFormat = "markdown",
) -> str:
    """A titled table: a Markdown section, or plain text with aligned columns."""
    if fmt == "markdown":
        lines = [f"## {title}", ""]
        lines.append("| " + " | ".join(headers) + " |")
        lines.append("|" + "|".join("---" for _ in headers) + "|")
        lines.extend("| " + " | ".join(_cell(cell) for cell in cells) + " |" for cells in rows)
        return "\n".join(lines) + "\n"
    table = [tuple(headers), *(tuple(" ".join(cell.split()) for cell in cells) for cells in rows)]
    widths = [max(len(cells[i]) for cells in table) for i in range(len(headers))]
    lines = [title, ""]
    for n, cells in enumerate(table):
        lines.append(
            "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)).rstrip()
        )
        if n == 0:
            lines.append("  ".join("-" * width for width in widths))
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    """A Markdown cell: a ``|`` or a line break in the text (an error message) cannot end it."""
    return " ".join(text.replace("|", "\\|").split())

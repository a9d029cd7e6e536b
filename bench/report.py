"""The targets of issue 8 beside what one run measured, and the figure bench-quick compares against."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

README = Path(__file__).resolve().parent / "README.md"
# The line in bench/README.md that `make bench-quick` reads back.
QUICK_LINE = re.compile(r"bench-quick reference: ([0-9.]+) ms CPU per request")


@dataclass(frozen=True)
class Row:
    metric: str
    target: str
    gateway: str
    direct: str
    ratio: str
    verdict: str


def fmt(value: float, unit: str = "", digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:,.{digits}f}{unit}"


def verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("PASS" if ok else "FAIL")


def ratio(a: float, b: float) -> str:
    if not b or math.isnan(a) or math.isnan(b):
        return "n/a"
    value = a / b
    return f"{value:,.2f}x" if value >= 0.1 else f"{value:.4f}x"


def render(rows: list[Row], title: str) -> str:
    """A Markdown table, readable in a terminal and pasteable into a README."""
    head = ("metric", "target", "gateway", "direct upstream", "gateway / direct", "verdict")
    cells = [head] + [(r.metric, r.target, r.gateway, r.direct, r.ratio, r.verdict) for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(head))]
    lines = [title, ""]
    for n, cell in enumerate(cells):
        lines.append("| " + " | ".join(c.ljust(w) for c, w in zip(cell, widths)) + " |")
        if n == 0:
            lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def markdown(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    out = ["| " + " | ".join(h.ljust(w) for h, w in zip(header, widths)) + " |",
           "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += ["| " + " | ".join(str(c).ljust(w) for c, w in zip(row, widths)) + " |" for row in rows]
    return "\n".join(out)


def recorded_quick_figure() -> float | None:
    """The CPU per request recorded in bench/README.md for bench-quick, if any."""
    if not README.exists():
        return None
    match = QUICK_LINE.search(README.read_text())
    return float(match.group(1)) if match else None

"""Pieces the experiments' reports share: number cells, Markdown tables, means over seeds."""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Mapping, Sequence
from typing import Any


def fmt(value: Any, scale: float = 1.0, digits: int = 2) -> str:
    """A number cell: ``scale · value`` to ``digits`` places; ``—`` for missing or non-finite."""
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return "—" if value is None else str(value)
    if not math.isfinite(value):
        return "—"
    return f"{scale * float(value):.{digits}f}"


def markdown_table(
    header: Sequence[str], rows: Sequence[Sequence[Any]], cell: Callable[[Any], str] = str
) -> list[str]:
    """The lines of a Markdown table; each value of ``rows`` through ``cell``."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(value) for value in row) + " |" for row in rows]
    return lines


def mean_over_seeds(rows: Sequence[Mapping[str, Any]], by: Sequence[str]) -> list[dict[str, Any]]:
    """One row per value of the ``by`` fields: numbers averaged over its rows (the seeds), other
    fields from the first; ``seeds`` counts the rows and ``FIELD_std`` is the spread (with two or
    more) of each averaged field."""
    groups: dict[tuple, list[Mapping[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(row.get(key) for key in by), []).append(row)
    averaged = []
    for group in groups.values():
        mean = dict(group[0])
        for key in group[0]:
            values = [r.get(key) for r in group]
            if key in by or not all(_is_number(v) for v in values):
                continue
            mean[key] = statistics.fmean(values)
            if len(values) > 1:
                mean[f"{key}_std"] = statistics.stdev(values)
        mean["seeds"] = len(group)
        averaged.append(mean)
    return averaged


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)

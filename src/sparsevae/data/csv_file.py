"""A CSV file of numeric feature rows as a data set: ``csv:PATH``."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from ..errors import DataError
from .base import Dataset
from .registry import register_scheme
from .scaling import check_scaling
from .user import as_nchw, build_dataset, existing_path, fixed_split, split_record


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _read_rows(p: Path, delimiter: str) -> tuple[list[str] | None, list[list[str]]]:
    """The header (None when the first row is all numbers) and the non-blank rows after it."""
    try:
        with open(p, newline="") as f:
            rows = [
                r for r in csv.reader(f, delimiter=delimiter) if r and any(c.strip() for c in r)
            ]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{p}: cannot read as CSV ({exc})") from None
    if not rows:
        raise DataError(f"{p}: the file has no rows")
    header = None if all(_is_number(c) for c in rows[0]) else [c.strip() for c in rows[0]]
    return header, rows[1:] if header else rows


def _label_index(
    p: Path, label_column: int | str | None, header: list[str] | None, width: int
) -> int | None:
    """The column holding labels: by header name or by (possibly negative) index."""
    if label_column is None:
        return None
    if isinstance(label_column, str) and not label_column.lstrip("-").isdigit():
        if header is None or label_column not in header:
            raise DataError(f"{p}: no column named {label_column!r} (header: {header})")
        return header.index(label_column)
    return int(label_column) % width


def _parse_rows(
    p: Path, body: list[list[str]], first_line: int, width: int, label_index: int | None
) -> tuple[np.ndarray, list[str]]:
    """The feature values (float64) and the label texts of the rows."""
    features, labels = [], []
    for line, row in enumerate(body, start=first_line):
        if len(row) != width:
            raise DataError(f"{p}:{line}: {len(row)} columns, expected {width}")
        try:
            features.append([float(c) for i, c in enumerate(row) if i != label_index])
        except ValueError:
            raise DataError(f"{p}:{line}: a feature is not a number") from None
        if label_index is not None:
            labels.append(row[label_index].strip())
    if not features or not features[0]:
        raise DataError(f"{p}: no feature columns")
    return np.asarray(features, dtype=np.float64), labels


def _encode_labels(labels: list[str]) -> tuple[np.ndarray, list[str] | None]:
    """Labels as integers: numeric ones as they are, text ones by their sorted class names."""
    if all(_is_number(v) and float(v).is_integer() and float(v) >= 0 for v in labels):
        return np.asarray([int(float(v)) for v in labels], dtype=np.int64), None
    classes = sorted(set(labels))
    return np.asarray([classes.index(v) for v in labels], dtype=np.int64), classes


@register_scheme("csv")
def load_csv(
    path: str,
    label_column: int | str | None = None,
    delimiter: str = ",",
    scaling: dict | str = "auto",
    test_fraction: float = 0.1,
    split_seed: int = 0,
    shape: list[int] | None = None,
) -> Dataset:
    """Rows of numeric features (a header row is detected); ``label_column`` (index or header
    name) holds labels.  Each feature is scaled to [0, 1] by its own training range.  Rows are
    shaped as :func:`.user.as_nchw` shapes them (``shape`` to choose)."""
    p = existing_path(path, "csv file")
    header, body = _read_rows(p, delimiter)
    width = len(header) if header else len(body[0])
    label_index = _label_index(p, label_column, header, width)
    x, labels = _parse_rows(p, body, 2 if header else 1, width, label_index)
    y, classes = _encode_labels(labels) if label_index is not None else (None, None)
    tr, te = fixed_split(len(x), test_fraction, split_seed, str(p))
    columns = [c for i, c in enumerate(header) if i != label_index] if header else None
    return build_dataset(
        f"csv:{path}",
        "csv",
        p,
        as_nchw(x[tr], f"{p} (train)", shape),
        as_nchw(x[te], f"{p} (test)", shape),
        None if y is None else y[tr],
        None if y is None else y[te],
        check_scaling(scaling),
        per_feature=True,
        extra_info={
            "split": split_record(test_fraction, split_seed),
            "columns": columns,
            "classes": classes,
        },
        rows=(tr, te),
    )

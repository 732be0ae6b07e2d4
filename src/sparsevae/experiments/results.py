"""One results store for every experiment: rows of finished runs in an output directory.

::

    OUT/sweep.json      the settings; rows made with other values of the pinned ones are refused
    OUT/results.jsonl   one JSON row per finished run, appended and fsynced as each run ends
    OUT/results.csv     the same rows as a table, rewritten after every row (and results.json
                        where the experiment asks for it)

``results.jsonl`` is the source of truth.  A kill at any moment leaves it readable: a row is one
``write`` of one line, and a torn last line (killed mid-write) is skipped when read and never
joins the next row.  A run is identified by its row's key (``id`` unless the experiment names
another); a row appended again for the same key replaces the earlier one (``--overwrite``), so the
file only ever grows and each rewrite of the tables is atomic.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import RunDirectoryError

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; run one process per --out there
    fcntl = None  # type: ignore[assignment]
from ..training.checkpoints import atomic_write_bytes, atomic_write_json

ROWS_FILE = "results.jsonl"
SETTINGS_FILE = "sweep.json"
CSV_FILE = "results.csv"
JSON_FILE = "results.json"


def as_json(value: Any) -> Any:
    """``value`` as it reads back from JSON (tuples become lists), to compare with a saved copy."""
    return json.loads(json.dumps(value))


def flatten(row: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts as ``outer_inner`` columns: ``{"test": {"mig": 1}}`` → ``{"test_mig": 1}``."""
    flat: dict[str, Any] = {}
    for key, value in row.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}_"))
        else:
            flat[name] = value
    return flat


class ResultsStore:
    """The rows of one experiment's finished runs in ``out`` (see the module's docstring).

    ``key`` names the field that identifies a run; ``columns`` are the CSV's columns (nested
    fields flattened as ``outer_inner``; by default every field, in the order first seen);
    ``json_table`` also keeps ``results.json``, a list of the rows.
    """

    def __init__(
        self,
        out: str | Path,
        *,
        key: str = "id",
        columns: Sequence[str] | None = None,
        json_table: bool = False,
    ) -> None:
        self.out = Path(out)
        if self.out.exists() and not self.out.is_dir():
            raise RunDirectoryError(f"{self.out}: exists and is not a directory")
        self.key = key
        self.columns = list(columns) if columns is not None else None
        self.json_table = json_table

    @property
    def rows_path(self) -> Path:
        return self.out / ROWS_FILE

    @property
    def settings_path(self) -> Path:
        return self.out / SETTINGS_FILE

    # -- settings ----------------------------------------------------------------------------------
    def saved_settings(self) -> dict[str, Any] | None:
        """The settings recorded by an earlier call, or None where there are none yet."""
        if not self.settings_path.is_file():
            return None
        try:
            saved = json.loads(self.settings_path.read_text())
        except json.JSONDecodeError:
            saved = None
        if not isinstance(saved, dict):
            raise RunDirectoryError(f"{self.settings_path}: unreadable; use a new --out directory")
        return saved

    def check_settings(self, settings: Mapping[str, Any], pinned: Iterable[str]) -> None:
        """Record ``settings``; refuse where a ``pinned`` one (it changes results) differs from
        the recorded value, so that one table never mixes rows made with different settings.
        The others (the grid, the device) may change between calls."""
        self.out.mkdir(parents=True, exist_ok=True)
        current = as_json(dict(settings))
        saved = self.saved_settings() or {}
        for name in pinned:
            if name in saved and saved[name] != current.get(name):
                raise RunDirectoryError(
                    f"{self.out} holds results made with {name}={saved[name]!r}, not "
                    f"{current.get(name)!r}; use a new --out directory"
                )
        atomic_write_json(self.settings_path, current)

    # -- rows --------------------------------------------------------------------------------------
    def rows(self) -> list[dict[str, Any]]:
        """Every finished run's row in the order first appended; a later row for the same key
        replaces the earlier one; unreadable lines (a torn last line) are skipped."""
        if not self.rows_path.is_file():
            return []
        rows: dict[str, dict[str, Any]] = {}
        for line in self.rows_path.read_text(errors="replace").splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(row, dict) and self.key in row:
                rows[str(row[self.key])] = row
        return list(rows.values())

    def finished(self) -> set[str]:
        """Keys of the runs that have a row."""
        return {str(row[self.key]) for row in self.rows()}

    def append(self, row: Mapping[str, Any]) -> None:
        """Append one row durably (fsynced), then rewrite the tables from all rows."""
        if self.key not in row:
            raise ValueError(f"a results row needs its key {self.key!r}")
        self.out.mkdir(parents=True, exist_ok=True)
        line = json.dumps(dict(row)) + "\n"
        with self.rows_path.open("a", encoding="utf-8") as f:
            if fcntl is not None:  # the shards of one sweep append to the same file
                fcntl.flock(f, fcntl.LOCK_EX)
            if self._ends_torn():  # start on a fresh line: the torn one must not swallow this row
                line = "\n" + line
            f.write(line)
            f.flush()
            os.fsync(f.fileno())
        self.write_tables()

    def _ends_torn(self) -> bool:
        if not self.rows_path.is_file() or self.rows_path.stat().st_size == 0:
            return False
        with self.rows_path.open("rb") as f:
            f.seek(-1, os.SEEK_END)
            return f.read(1) != b"\n"

    # -- tables ------------------------------------------------------------------------------------
    def write_tables(self, rows: Sequence[Mapping[str, Any]] | None = None) -> None:
        """Rewrite ``results.csv`` (and ``results.json``) atomically from ``rows`` (default: all)."""
        rows = self.rows() if rows is None else rows
        flat = [flatten(row) for row in rows]
        columns = self.columns or list(dict.fromkeys(k for row in flat for k in row))
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        for row in flat:
            writer.writerow({k: "" if row.get(k) is None else row[k] for k in columns})
        atomic_write_bytes(self.out / CSV_FILE, buffer.getvalue().encode())
        if self.json_table:
            atomic_write_json(self.out / JSON_FILE, [dict(row) for row in rows])

    def refuse_unrecorded(self, pattern: str) -> None:
        """Refuse an ``out`` that holds results of an older sparsevae (files matching
        ``pattern``, no ``results.jsonl``): their settings are unknown, and running here could
        replace those runs."""
        if self.rows_path.is_file() or not self.out.is_dir():
            return
        found = sorted(self.out.glob(pattern))
        if found:
            raise RunDirectoryError(
                f"{self.out} holds results without {ROWS_FILE} (e.g. {found[0]}), written by an "
                "older sparsevae; use a new --out directory"
            )

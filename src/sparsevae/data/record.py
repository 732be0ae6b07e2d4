"""What a run directory records about its data, so that evaluate, encode and resume rebuild it."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .base import Dataset


def data_record(
    name: str,
    data: Dataset,
    *,
    data_dir: str | Path | None = None,
    options: Mapping[str, Any] | None = None,
    train_limit: int | None = None,
) -> dict[str, Any]:
    """The ``data`` section of a run's config (``Trainer(data_info=...)``).

    ``name`` is what was passed to ``load_dataset`` (a registered name or ``npz:PATH``…),
    ``data_dir`` where its files were (kept absolute, so that the run can be evaluated, encoded
    and resumed from any working directory), ``options`` the loader's keyword options (by default
    ``data.info["options"]``, where the CLI keeps them), and ``info`` the set's own record
    (scaling of user data, class names); ``train_limit``, when the run trained on the first
    examples of the training split only, is kept so that a resumed run sees the same ones.
    """
    if options is None:
        options = data.info.get("options") or {}
    record = {
        "name": name,
        "data_dir": None if data_dir is None else str(Path(data_dir).expanduser().resolve()),
        "options": dict(options),
        "info": data.info,
    }
    return record if not train_limit else {**record, "train_limit": train_limit}

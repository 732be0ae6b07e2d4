"""``sparsevae reproduce llgae``: LLGAE against LGAE, PCA, a mixture of PCAs and an autoencoder.

The CATSMILE-1022 note's comparison, on the note's metric (mean-centred per-pixel squared error on
0–255 pixels, :mod:`sparsevae.evaluation.pixel_error`).  Every row has the same code budget: E
numbers per example (plus, for the mixtures, which of the K components is used).

Rows (``--rows`` picks a subset):

* ``llgae``: K components, codes by T unrolled steps, RMSprop (the note's defaults).
* ``llgae-lstsq-codes``: the ``llgae`` row's trained model, decoded with the closed-form ridge codes
  (T → ∞) instead of the T steps — no training, it isolates what the finite T costs or gains.
* ``llgae-lstsq``: LLGAE trained with the closed-form codes.
* ``lgae``: K = 1, the same iteration.
* ``pca``: scikit-learn PCA with E components.
* ``mixture-pca``: K subspaces of dimension E by alternating minimisation (``mixture-pca`` model).
* ``ae``: the ``ae`` model, 784–hidden–E–hidden–784, Gaussian likelihood (squared error), Adam.

Writes into ``--out``: ``runs/<row>/`` (a run directory per trained row, with ``result.json``),
``sweep.json`` (the settings), ``results.jsonl`` (a row per finished row, as it finishes),
``results.json``, ``results.csv`` and ``results.md``.  A row already in ``results.jsonl`` is reused
(unless ``--overwrite``), and ``--reuse ROW=RUN_DIR`` takes a run trained elsewhere (for example
with ``sparsevae train``), so a long LLGAE run need not be repeated.

``protocol`` (settings, rows, recipes), ``sweep`` (training and scoring), ``report`` (tables),
``cli`` (the flags).
"""

from . import cli  # noqa: F401  (registers the experiment)
from .protocol import ROWS, LlgaeSettings, RowSpec
from .report import write_report
from .sweep import describe, run_rows, score

__all__ = ["ROWS", "LlgaeSettings", "RowSpec", "describe", "run_rows", "score", "write_report"]

"""``sparsevae reproduce uai2019-smiley``: VSC (UAI 2019) against β-VAE and β-TCVAE on Smiley.

The paper's claim: as the latent dimension J grows, VSC keeps a block-diagonal correlation
structure between sources and latents while β-VAE and β-TCVAE degrade.  For every J the
experiment trains VSC (``vsc-uai``), and β-VAE and β-TCVAE for every β of a small grid; β is
chosen per model and J by DCI disentanglement on a validation split (held out from training), and
everything is scored on the test split against the 18 Smiley sources.

Writes into ``--out``: ``runs/<model>_J<J>[_b<β>]/`` (run directories plus ``scores.json``),
``sweep.json`` (the settings), ``results.jsonl`` and ``results.csv`` (a row per finished run, as
it finishes), ``correlation_J<J>.png`` (the three models side by side), ``correlation_all.png``
(J × model), ``results.json`` and ``results.md`` (MIG / DCI / SAP per model and J).  A run with a
row in ``results.jsonl`` is reused, so an interrupted experiment continues where it stopped.

The default flags are the full-size protocol of the supplement (hidden 3000, batch 500, lr 5·10⁻⁴,
80,000 training images, 200,000 iterations = 1250 epochs); see docs/uai2019.md for the reduced
protocol that fits a CPU.

``protocol`` (settings and runs), ``sweep`` (training and scoring), ``report`` (β choice, figures,
tables), ``cli`` (the flags).
"""

from . import cli  # noqa: F401  (registers the experiment)
from .protocol import MODELS, NAME, RunSpec, SmileySettings
from .report import choose_betas, write_report
from .sweep import run_smiley

__all__ = [
    "MODELS",
    "NAME",
    "RunSpec",
    "SmileySettings",
    "choose_betas",
    "run_smiley",
    "write_report",
]

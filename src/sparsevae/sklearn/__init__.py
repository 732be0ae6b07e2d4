"""scikit-learn estimators: a sparse code for any sparsevae model, in ``Pipeline`` and ``GridSearchCV``.

:class:`VariationalSparseCoding` follows the conventions of ``DictionaryLearning`` and
``MiniBatchDictionaryLearning``: ``n_components`` is the code length, ``alpha`` the prior spike
probability, ``fit`` / ``partial_fit`` / ``transform`` (the sparse code) / ``inverse_transform``
(decode) / ``score`` (mean ELBO, higher is better).  :class:`SparseVAETransformer` does the same for
any registered model kind (``model="vae"``, ``"sparse-ae"``, …).

Input is 2-D ``(n_samples, n_features)``.  The models expect values in [0, 1]; ``scale`` says how
other values get there (with the scalings of :mod:`sparsevae.data.scaling`):

* ``"global"`` (default): one minimum and one maximum learned by ``fit`` over all of X, so relative
  intensities are kept (digits' 0–16 become x / 16; data already spanning [0, 1] are unchanged);
* ``"feature"``: a minimum and maximum per feature (like ``MinMaxScaler``);
* ``"none"``: X must already lie in [0, 1]; anything else is an error.

With ``"global"`` and ``"feature"``, ``transform`` clips values outside the range seen in ``fit``,
and ``inverse_transform`` maps back to the original units.

Training is sparsevae's trainer: ``fit`` runs ``max_iter`` epochs and ``partial_fit`` one more, both
through the same epoch and step (same loss, schedules, KL warm-up, clipping, weight averaging and
non-finite rules as ``sparsevae train``), on the CPU unless ``device`` says otherwise.  Randomness
comes from ``random_state`` alone and never touches torch's global random state.  Fitted estimators
pickle (the torch module pickles with them); sparsevae's own run directories stay pickle-free
(``sparsevae.save_model(dir, est.model_)``).
"""

from .transformer import InputRangeError, SparseVAETransformer
from .vsc import VariationalSparseCoding

__all__ = ["InputRangeError", "SparseVAETransformer", "VariationalSparseCoding"]

"""Errors that users can cause, each carrying a one-line message that names the problem.

The CLI prints these as ``error: <message>`` and exits non-zero without a traceback; anything else
is a bug in sparsevae and keeps its traceback.
"""

from __future__ import annotations


class SparseVAEError(Exception):
    """Base class for every error a user can cause by what they pass in."""


class ConfigError(SparseVAEError, ValueError):
    """An invalid hyper-parameter, model name or option."""


class DataError(SparseVAEError):
    """A data set that is missing, truncated, corrupt or of the wrong shape."""


class CheckpointError(SparseVAEError):
    """A run directory that cannot be loaded: missing, corrupt, tampered or incompatible."""


class RunDirectoryError(SparseVAEError):
    """A run directory that would be overwritten, or cannot be resumed."""


class TrainingError(SparseVAEError):
    """Training stopped for a reason the user can act on (for example a non-finite loss)."""


class SparseVAEWarning(UserWarning):
    """Something the user should know that does not stop the work; the CLI prints it in one line
    as ``sparsevae: warning: <message>``."""

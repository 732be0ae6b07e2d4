"""``sparsevae explore``: a local web page for exploring a trained model's codes.

:class:`ExploreSession` (``session.py``) does the work in Python and needs nothing beyond the core
package; the web application (``app.py``) and its server (``server.py``) need the ``explore``
extra, Flask: ``pip install "sparsevae[explore]"``.  The page's script and style are package data
in ``assets/``.
"""

from .session import Analysis, ExploreSession

DEFAULT_HOST = "127.0.0.1"  # this machine only

__all__ = ["DEFAULT_HOST", "Analysis", "ExploreSession"]

"""``python -m sparsevae``: the command line (what ``torchrun … -m sparsevae train …`` runs)."""

import sys

from .cli.main import main

sys.exit(main())

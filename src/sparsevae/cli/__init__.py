"""Command-line interface: ``sparsevae <verb> …``; each verb lives in a module of its own."""

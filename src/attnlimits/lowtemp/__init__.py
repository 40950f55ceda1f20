"""Experiment ``lowtemp``: mean-field transformers at low temperature (large β)
(docs/mathematics.md)."""

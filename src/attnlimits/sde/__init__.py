"""Experiment ``sde``: P2's common-noise SDE, width, tokens and synchronization
(docs/mathematics.md)."""

"""Experiment ``heads``: P1's forward pass, depth × heads limit (docs/mathematics.md, experiment
``heads``)."""

"""Experiment ``heads``: P1's forward pass, depth × heads limit (MODELS.md, section ``heads``)."""

"""Experiment ``lowtemp`` (MODELS.md): mean-field transformers at low temperature (large β)."""

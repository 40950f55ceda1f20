"""The kernel-table job of experiment ``sde``: the exponents table of ``exponents_table``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from attnlimits.sde.exponents_table import exponents_table


def run_kernel_table(spec: Mapping[str, Any]) -> pd.DataFrame:
    """κ(1), κ′(1), λ₁, λ̄, oddness and the synchronization condition (``exponents_table``).

    spec = {activations, dims, sigmas, mc_samples, seed}; σ_U = σ_W = σ.
    """
    return exponents_table(
        spec["activations"],
        spec["dims"],
        spec["sigmas"],
        samples=int(spec["mc_samples"]),
        seed=int(spec["seed"]),
    )

"""The test inputs of P1's model (docs/mathematics.md, ``heads``): S sequences X₀ of N tokens."""

from __future__ import annotations

import numpy as np
import torch

from attnlimits.geometry import project
from attnlimits.seeding import normal


def draw_inputs(count: int, n: int, d: int, normalisation: str, seed: int) -> torch.Tensor:
    """S test inputs X₀ (S, N, d): uniform on the sphere for ``sphere``, N(0, I/d) for ``none``.

    The stream is ``(seed, "inputs", normalisation, N, d)``: each (N, d) has its own inputs.
    """
    g = normal((count, n, d), seed, "inputs", normalisation, n, d)
    if normalisation == "sphere":
        return project(g, "sphere")
    return g / np.sqrt(d)

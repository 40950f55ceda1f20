"""Per-job runtime set-up: torch threads and device."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch


def setup(runtime: Mapping[str, Any]) -> torch.device:
    """Fix torch's thread count (for bit-identical results) and pick the device.

    ``device``: ``cpu``, ``cuda`` or ``auto`` (cuda when available). Everything runs in float64.
    """
    torch.set_num_threads(int(runtime.get("torch_threads", 1)))
    torch.use_deterministic_algorithms(True, warn_only=True)
    choice = runtime.get("device", "cpu")
    if choice == "auto":
        choice = "cuda" if torch.cuda.is_available() else "cpu"
    if choice == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("runtime.device is 'cuda' but torch sees no CUDA device")
    return torch.device(choice)

"""The activations φ of the ``sde`` MLP noise field (docs/mathematics.md, ``sde``).

The field of one layer is ``G(y) = m^(−1/2) W φ(U y / sqrt(d) + b_U) + b_W``; docs/mathematics.md
names φ ∈ {relu, silu, sigmoid, tanh} (and ``none`` = no MLP, which is the experiment's business,
not an activation). Each φ comes with its derivative φ′, which κ′(1) = (1/d) E[φ′(sZ)²] needs, and
with whether it is odd, which decides whether the field can be odd (``exponents.is_odd_field``).
Further activations may be registered (``register_activation``); the kernel, the exponents and
the fields read φ by name from this registry.

numpy versions (float64) serve the quadrature and Monte Carlo of κ; ``torch_activation`` gives φ
on tensors for the simulated fields (torch's own functions for the built-ins).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

Elementwise = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Activation:
    """An activation φ with its derivative φ′ (numpy-vectorised, float64 in and out).

    φ must be smooth except possibly at 0 (relu), where the split quadrature puts its breakpoints.
    ``odd`` records φ(−x) = −φ(x).
    """

    name: str
    phi: Elementwise
    dphi: Elementwise
    odd: bool


_REGISTRY: dict[str, Activation] = {}

_TORCH_ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "relu": torch.relu,
    "silu": torch.nn.functional.silu,
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
}


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _dsigmoid(x: np.ndarray) -> np.ndarray:
    t = np.tanh(0.5 * x)
    return 0.25 * (1.0 - t * t)


def _silu(x: np.ndarray) -> np.ndarray:
    return x * _sigmoid(x)


def _dsilu(x: np.ndarray) -> np.ndarray:
    sig = _sigmoid(x)
    return sig * (1.0 + x * (1.0 - sig))


def _relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0.0)


def _drelu(x: np.ndarray) -> np.ndarray:
    return (x > 0.0).astype(np.float64)


def _dtanh(x: np.ndarray) -> np.ndarray:
    t = np.tanh(x)
    return 1.0 - t * t


def _looks_odd(phi: Elementwise) -> bool:
    x = np.linspace(-8.0, 8.0, 1601)
    left, right = phi(-x), -phi(x)
    return bool(np.allclose(left, right, rtol=1e-12, atol=1e-12))


def register_activation(
    name: str,
    phi: Elementwise,
    dphi: Elementwise,
    *,
    odd: bool | None = None,
    overwrite: bool = False,
) -> Activation:
    """Add an activation φ (with φ′) to the registry under ``name`` and return it.

    φ must be smooth except possibly at 0 (kinks elsewhere would slow the quadrature down to
    algebraic convergence). ``odd=None`` decides φ(−x) = −φ(x) numerically on [−8, 8]. ``none``
    is reserved (no MLP) and cannot be registered.
    """
    if name == "none":
        raise ValueError("'none' means no MLP and is not an activation")
    if name in _REGISTRY and not overwrite:
        raise ValueError(f"activation {name!r} is already registered")

    def as_float(f: Elementwise) -> Elementwise:
        return lambda x: np.asarray(f(np.asarray(x, dtype=np.float64)), dtype=np.float64)

    phi64, dphi64 = as_float(phi), as_float(dphi)
    entry = Activation(
        name=name,
        phi=phi64,
        dphi=dphi64,
        odd=_looks_odd(phi64) if odd is None else odd,
    )
    _REGISTRY[name] = entry
    return entry


register_activation("relu", _relu, _drelu, odd=False)
register_activation("silu", _silu, _dsilu, odd=False)
register_activation("sigmoid", _sigmoid, _dsigmoid, odd=False)
register_activation("tanh", np.tanh, _dtanh, odd=True)

ACTIVATIONS: tuple[str, ...] = ("relu", "silu", "sigmoid", "tanh")
"""The built-in activations (``none`` = no MLP is handled by the experiment, not here)."""


def get_activation(name: str) -> Activation:
    """The registered activation ``name``."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown activation {name!r}; registered: {sorted(_REGISTRY)}") from None


def registered_activations() -> tuple[str, ...]:
    """Names of all registered activations, built-in and user-added."""
    return tuple(_REGISTRY)


def torch_activation(name: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """φ on float64 tensors: torch's own for the built-ins, else the registered numpy φ (CPU)."""
    if name in _TORCH_ACTIVATIONS:
        return _TORCH_ACTIVATIONS[name]
    phi = get_activation(name).phi

    def apply(x: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(phi(x.detach().cpu().numpy())).to(x.device)

    return apply

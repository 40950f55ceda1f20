"""What several runners of ``attnlimits.sde.runs`` share: progress, a spec's row, its attention.

A row is (activation, d, σ) with σ = σ_U = σ_W (docs/mathematics.md, ``sde``); its exponents κ(1),
κ′(1), λ₁, λ̄ (``exponents``) go into the stores' attrs. The attention of every run is the
default head of docs/mathematics.md, Q = K = V = I with the spec's β and ``attention_sign``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch

from attnlimits.sde.dynamics import Attention
from attnlimits.sde.exponents import coercivity_exponent, lyapunov_exponent
from attnlimits.sde.field import NoiseField
from attnlimits.sde.kernel import kappa_one, kappa_prime_one

Progress = Callable[[int, int], None]


class Ticker:
    """Counts units of work and calls ``progress(done, total)`` about every 1% (and at the end)."""

    def __init__(self, progress: Progress | None, total: int) -> None:
        self.progress, self.total = progress, max(1, int(total))
        self.done, self.last = 0, 0
        self.every = max(1, self.total // 100)

    def tick(self, n: int = 1) -> None:
        self.done += n
        if self.progress is not None and (
            self.done - self.last >= self.every or self.done >= self.total
        ):
            self.last = self.done
            self.progress(min(self.done, self.total), self.total)


class CountedField(NoiseField):
    """A noise field that reports every layer it samples to a ticker; values are the inner field's.

    Lets library loops that take a field but no progress callback (``simulate``,
    ``energy_curve``) report progress without changing what they compute.
    """

    def __init__(self, inner: NoiseField, ticker: Ticker) -> None:
        self.inner, self.ticker = inner, ticker

    def covariance(self, y: torch.Tensor, layer: int) -> torch.Tensor:
        return self.inner.covariance(y, layer)

    def sample(self, y: torch.Tensor, layer: int, xi: torch.Tensor) -> torch.Tensor:
        self.ticker.tick()
        return self.inner.sample(y, layer, xi)


def row(spec: Mapping[str, Any]) -> tuple[str, int, float]:
    """(activation, d, σ) of a spec."""
    return str(spec["activation"]), int(spec["d"]), float(spec["sigma"])


def row_exponents(activation: str, d: int, sigma: float) -> dict[str, float]:
    """κ(1), κ′(1), λ₁ = ((d−3)/2) κ′(1) − ((d−1)/2) κ(1), λ̄ = (d−1) κ′(1) − (d−3) κ(1)."""
    return {
        "kappa_1": float(kappa_one(activation, d, sigma, sigma)),
        "kappa_prime_1": float(kappa_prime_one(activation, d, sigma, sigma)),
        "lambda_1": float(lyapunov_exponent(activation, d, sigma, sigma)),
        "lambda_bar": float(coercivity_exponent(activation, d, sigma, sigma)),
    }


def identity_attention(spec: Mapping[str, Any], device: torch.device | str) -> Attention:
    """Q = K = V = I, inverse temperature β, attention term multiplied by ``attention_sign``."""
    d, beta, sign = int(spec["d"]), float(spec["beta"]), float(spec["attention_sign"])
    return Attention.identity(d, beta, sign, device)


def row_attrs(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The attrs every row store carries: the row, ``attention_sign`` and β."""
    activation, d, sigma = row(spec)
    return {
        "activation": activation,
        "d": d,
        "sigma": sigma,
        "attention_sign": int(spec["attention_sign"]),
        "beta": float(spec["beta"]),
    }

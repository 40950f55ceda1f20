"""Normalisations of docs/mathematics.md: ``none`` (tokens in R^d) or ``sphere`` (on S^{d-1})."""

from __future__ import annotations

import torch

NORMALISATIONS = ("none", "sphere")


def project(x: torch.Tensor, normalisation: str) -> torch.Tensor:
    """The map Π: identity for ``none``, Π(v) = v/|v| for ``sphere`` (last axis is the token)."""
    if normalisation == "none":
        return x
    if normalisation == "sphere":
        return x / torch.linalg.vector_norm(x, dim=-1, keepdim=True)
    raise ValueError(f"unknown normalisation {normalisation!r}; allowed: {NORMALISATIONS}")


def tangent(x: torch.Tensor, v: torch.Tensor, normalisation: str) -> torch.Tensor:
    """P(x) v: identity for ``none``, the tangent projection (I − x xᵀ) v for ``sphere``."""
    if normalisation == "none":
        return v
    if normalisation == "sphere":
        return v - (x * v).sum(-1, keepdim=True) * x
    raise ValueError(f"unknown normalisation {normalisation!r}; allowed: {NORMALISATIONS}")

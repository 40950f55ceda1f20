"""Joint limits of experiment ``sde``: the L-layer, width-m (or N-token) model against one
reference (docs/mathematics.md, experiment ``sde``, predictions: depth and width).

P2's Theorem 1.1 bounds E sup_t (1/N) Σᵢ |X_{⌊t/Δ⌋}ⁱ − X̄ⁱ_t|² ≤ c (log L / L + 1/m) jointly in the
depth L and the width m. To separate the two terms every model of a grid is measured against the
SAME reference X̄: the infinite-width discrete model with L_fine layers (``limit.reference``),
driven by the same fine Brownian increments (``discrete.coarsen``) and, at finite width, by the
same normals through the square root of its own covariance (``field.finite_width_field``, as the
width runs). Two suprema are taken per seed (``coupled_errors``):

* over the layer times t_ℓ = ℓΔ only (``limit.pathwise_error``): strong order 1/2, no log;
* over every time of the fine grid of the interpolated path t ↦ X_{⌊t/Δ⌋} (``interpolated_sup``):
  the path holds X_ℓ on [t_ℓ, t_{ℓ+1}) while X̄ moves, so the sup also sees the oscillation of X̄
  within a layer, whose maximum over L layers grows like Δ log L (Lévy's modulus of continuity):
  the log L of the theorem.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from attnlimits.sde.discrete import coarsen, simulate
from attnlimits.sde.dynamics import Attention
from attnlimits.sde.field import NoiseField
from attnlimits.sde.limit import pathwise_error, reference, sup_mean_square


def interpolated_sup(coarse: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Per seed: max over the fine times t_k = kT/L_fine, k = 0..L_fine, of
    (1/N) Σᵢ |X_{⌊t_k/Δ⌋}ⁱ − X̄ⁱ(t_k)|², Δ = T/L (the theorem's sup over t of the path held
    constant between layer times, on the reference's grid).

    ``coarse`` (R, L+1, N, d), ``ref`` (R, L_fine+1, N, d) with L | L_fine. Returns (R,); it is at
    least ``pathwise_error(coarse, ref)`` (the layer times are among the fine times).
    """
    layers, fine = coarse.shape[1] - 1, ref.shape[1] - 1
    if layers < 1 or fine % layers:
        raise ValueError(f"L = {layers} must divide L_fine = {fine}")
    held = coarse.repeat_interleave(fine // layers, 1)[:, : fine + 1]
    return sup_mean_square(held, ref)


def coupled_errors(
    x0: torch.Tensor,
    attn: Attention,
    horizon: float,
    reference_field: NoiseField,
    xi_fine: torch.Tensor,
    layer_counts: Sequence[int],
    fields: Sequence[NoiseField],
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The errors of every (L, field) model against one reference, and the reference's path.

    The reference is ``reference(x0, attn, horizon, reference_field, xi_fine)`` (L_fine =
    ξ_fine.shape[1] layers); the model (L, f) runs ``simulate`` with Δ = T/L on
    ``coarsen(ξ_fine, L)`` through the field f. Returns (err2_layers, err2_path, reference path):
    err2_layers (len(L), len(fields), R) = ``pathwise_error`` (sup over layer times),
    err2_path (same shape) = ``interpolated_sup`` (sup over the interpolated path).
    """
    ref = reference(x0, attn, horizon, reference_field, xi_fine)
    layers, path = [], []
    for count in layer_counts:
        xi = coarsen(xi_fine, int(count))
        runs = [simulate(x0, attn, horizon / int(count), f, xi) for f in fields]
        layers.append(torch.stack([pathwise_error(p, ref) for p in runs]))
        path.append(torch.stack([interpolated_sup(p, ref) for p in runs]))
    return torch.stack(layers), torch.stack(path), ref

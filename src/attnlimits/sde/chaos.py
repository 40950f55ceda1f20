"""Propagation of chaos for the ``sde`` experiment (docs/mathematics.md, ``sde``, predictions:
tokens).

Prediction: E sup_t W2²(μ^N_t, μ_t) ≤ c r(N), with r(N) = N^(−1/2), N^(−1/2) log(1+N), N^(−2/k)
for k < 4, k = 4, k > 4; k = d (ambient, as the paper states it) or k = d−1 (the sphere's
intrinsic dimension). ``chaos_rates`` gives both.

Measurement. The limit μ_t (a random measure, driven by the common noise) is replaced by the
empirical measure of a reference system of N_ref ≫ N tokens driven by the SAME noise field: the
same frozen random features and the same per-layer coefficients (``features.py``), the same
attention (``dynamics.Attention``), the same Δ. Both systems run the layer step of ``dynamics.py``,

    Yⁱ = Π(X_ℓⁱ + Δ·s·A(X_ℓ)ⁱ),   X_{ℓ+1}ⁱ = Π(Yⁱ + sqrt(Δ)·G_{ℓ+1}(Yⁱ)),

with G_{ℓ+1} evaluated at each system's own Y (the field is defined at every point).
Initial tokens: the N-token system and the reference are INDEPENDENT i.i.d. samples of
μ₀ = uniform on S^{d−1} (the standard propagation-of-chaos setting, μ^{N_ref}_0 standing in for
μ₀). Within one replica the N-token systems for different N are nested (the first N tokens of one
pool), which correlates their errors and steadies the fitted slope in N.

Reference error. What the measurement needs is the BIAS of the estimator E W2²(μ^N, μ^{N_ref}) as an
estimate of E W2²(μ^N, μ), per N. It is measured as the limit solver's own error is
(docs/mathematics.md, "How rates are fitted": by halving its step), here by halving the reference:
``halved_reference`` keeps the first N_ref/2 tokens of the reference (i.i.d. at t = 0, so an
exchangeable sub-sample; still the tokens of the N_ref system) and ``halving_reference_error`` is
the successive difference |E sup W2²(μ^N, μ^{N_ref}) − E sup W2²(μ^N, μ^{N_ref/2})|. If the bias
falls like N_ref^(−a), the difference is (2^a − 1) × the bias at N_ref. Heuristically a = 1 for N ≪
N_ref: the dual of the semi-discrete problem has N variables, and the bias of such a plug-in
estimate is of order N/N_ref, so the difference is about the bias itself. The pipeline drops the N
whose E sup W2² is within 10× of it.

``reference_floor`` is a different, larger quantity, kept as information: ½ sup W2² between two
independent reference systems driven by the same field, an estimate of W2²(μ^{N_ref}_t, μ_t) ~
r(N_ref) itself (their W2² ≈ 2 × floor, if the two errors add as for independent samples). It is
NOT the bias at N ≪ N_ref: transporting many reference atoms onto N atoms mostly recovers the
semi-discrete cost W2²(μ^N, μ), so the floor overstates the bias (at d = 5, N_ref = 1024, by about
an order of magnitude).

W2² between empirical measures with uniform weights is solved exactly by ``ot.emd2`` (network
simplex, ``transport.w2_squared``): O(N·N_ref) memory for the cost matrix, and measured on one
core ≈ 3 ms (16 × 1024), 15 ms (128 × 1024), 0.13 s (512 × 2048), 0.9 s (2048 × 2048) per call.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from attnlimits.sde.dynamics import Attention, attention_half_step, noise_half_step
from attnlimits.sde.features import (
    Features,
    field_increment,
)
from attnlimits.seeding import generator
from attnlimits.transport import w2_squared


def uniform_sphere(
    n: int, d: int, *parts: int | str, device: str | torch.device = "cpu"
) -> torch.Tensor:
    """n i.i.d. tokens of μ₀ = uniform on S^{d−1} (normalised Gaussians), (n, d) float64."""
    z = torch.from_numpy(generator("sde.chaos.tokens", *parts).standard_normal((n, d)))
    return (z / torch.linalg.vector_norm(z, dim=-1, keepdim=True)).to(device)


def simulate_particles(
    x0: torch.Tensor,
    attn: Attention,
    dt: float,
    L: int,
    features: Features,
    coeffs: torch.Tensor,
    activation: str,
    sigma_w: float,
    record_every: int = 1,
) -> torch.Tensor:
    """Run L layers from tokens x0 (..., n, d); layer ℓ adds sqrt(Δ)·G_ℓ(Y), ξ = coeffs[..., ℓ−1].

    ``coeffs`` (..., ≥L, P+1, d) are standard normal (``draw_coefficients``); leading axes of x0,
    features and coeffs broadcast (independent replicas). ``activation == "none"`` means no MLP
    (pure attention). Returns the tokens at layers 0, k, 2k, …, L (k = ``record_every``, which must
    divide L): shape (..., L/k + 1, n, d).
    """
    if L < 1 or L % record_every:
        raise ValueError(f"record_every={record_every} must divide L={L} >= 1")
    if activation != "none" and coeffs.shape[-3] < L:
        raise ValueError(f"{coeffs.shape[-3]} coefficient steps for {L} layers")
    x = x0
    out = [x0]
    for layer in range(L):
        y = attention_half_step(x, attn, dt)
        if activation == "none":
            x = y
        else:
            noise = field_increment(y, features, coeffs[..., layer, :, :], activation, sigma_w, dt)
            x = noise_half_step(y, noise)
        if (layer + 1) % record_every == 0:
            out.append(x)
    return torch.stack(out, dim=-3)


def w2_squared_path(
    traj_a: torch.Tensor, traj_b: torch.Tensor, layers: Sequence[int] | None = None
) -> np.ndarray:
    """W2²(μ^a_t, μ^b_t) at recorded times ``layers`` (all if None): (..., T) → (..., len(layers)).

    traj_a (..., T, n, d), traj_b (..., T, m, d) with the same leading axes.
    """
    if traj_a.shape[:-2] != traj_b.shape[:-2]:
        raise ValueError(f"shapes {tuple(traj_a.shape)} and {tuple(traj_b.shape)} do not match")
    times = range(traj_a.shape[-3]) if layers is None else list(layers)
    a = traj_a[..., list(times), :, :]
    b = traj_b[..., list(times), :, :]
    lead = a.shape[:-2]
    a = a.reshape(-1, *a.shape[-2:])
    b = b.reshape(-1, *b.shape[-2:])
    out = np.array([w2_squared(a[i], b[i]) for i in range(len(a))])
    return out.reshape(lead)


def sup_w2_squared(
    traj_n: torch.Tensor, traj_ref: torch.Tensor, layers: Sequence[int] | None = None
) -> np.ndarray:
    """sup over recorded layers of W2²(μ^N_t, μ^{N_ref}_t), per replica: (..., T, ·, d) → (...)."""
    return w2_squared_path(traj_n, traj_ref, layers).max(axis=-1)


def reference_floor(
    traj_ref_a: torch.Tensor, traj_ref_b: torch.Tensor, layers: Sequence[int] | None = None
) -> np.ndarray:
    """½ sup_t W2²(μ^{ref,a}_t, μ^{ref,b}_t) for two independent N_ref systems with the same field.

    Estimates the reference's own error sup_t W2²(μ^{N_ref}_t, μ_t) (per replica), on the heuristic
    E W2²(a, b) ≈ E W2²(a, μ) + E W2²(b, μ) for independent samples a, b.
    """
    return 0.5 * sup_w2_squared(traj_ref_a, traj_ref_b, layers)


def halved_reference(traj_ref: torch.Tensor) -> torch.Tensor:
    """The halved reference μ^{N_ref/2}: the first ⌊N_ref/2⌋ tokens of ``traj_ref`` (..., n_ref, d).

    Its initial tokens are i.i.d. (an exchangeable sub-sample of μ^{N_ref}_0), and at later times
    they are the same tokens of the N_ref system (not a separate N_ref/2 system): a view, no copy.
    """
    half = traj_ref.shape[-2] // 2
    if half < 1:
        raise ValueError(f"cannot halve a reference of {traj_ref.shape[-2]} token(s)")
    return traj_ref[..., :half, :]


def halving_reference_error(sup_ref: np.ndarray, sup_half: np.ndarray) -> np.ndarray:
    """Reference error per N by halving N_ref, the successive difference
    |E sup_t W2²(μ^N_t, μ^{N_ref}_t) − E sup_t W2²(μ^N_t, μ^{N_ref/2}_t)|.

    ``sup_ref`` and ``sup_half`` are means over replicas (or bootstrap replicates of them, any
    matching shapes) of sup_t W2²(μ^N_t, μ^{N_ref}_t) and of sup_t W2²(μ^N_t, μ^{N_ref/2}_t)
    (``halved_reference``). It estimates the bias of E sup W2²(μ^N, μ^{N_ref}) as an estimate of
    E sup W2²(μ^N, μ) (times 2^a − 1 if the bias falls like N_ref^(−a)).
    """
    return np.abs(np.asarray(sup_ref, np.float64) - np.asarray(sup_half, np.float64))


def _rate(n: np.ndarray, k: float) -> np.ndarray:
    if k < 4:
        return n**-0.5
    if k == 4:
        return n**-0.5 * np.log1p(n)
    return n ** (-2.0 / k)


def chaos_rates(N: np.ndarray | Sequence[float] | float, d: int) -> dict[str, dict[str, object]]:
    """Predicted r(N) for k = d (``ambient``) and k = d−1 (``intrinsic``).

    For each: ``k``, ``r`` (the values r(N)), ``exponent`` (the power −1/2 or −2/k, ignoring the
    log at k = 4) and ``local_slope`` (d log r / d log N at N: −1/2 + N/((1+N) log(1+N)) at k = 4,
    else the exponent), which is what a log–log fit over a finite range of N estimates.
    """
    n = np.asarray(N, dtype=np.float64)
    out: dict[str, dict[str, object]] = {}
    for name, k in (("ambient", d), ("intrinsic", d - 1)):
        exponent = -0.5 if k <= 4 else -2.0 / k
        local = -0.5 + n / ((1.0 + n) * np.log1p(n)) if k == 4 else np.full_like(n, exponent)
        out[name] = {"k": k, "r": _rate(n, k), "exponent": exponent, "local_slope": local}
    return out

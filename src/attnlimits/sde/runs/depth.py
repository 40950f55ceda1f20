"""Depth runs of experiment ``sde``: the L-layer model against the infinite-width reference.

MODELS.md, ``sde``, "Predictions: depth and width": E sup_t (1/N) Σᵢ |X_{⌊t/Δ⌋}ⁱ − X̄_tⁱ|² ≤
c (log L / L + 1/m), strong order 1/2 in L. ``run_depth`` measures the pathwise error
E sup_l (1/N) Σᵢ |X_lⁱ − X̄ⁱ(t_l)|² of the L-layer model against the infinite-width reference with
``fine`` layers, all driven by the same fine Brownian increments (``coarsen``), and the successive
differences of the fine ladder (the reference's own error). The fine grid is streamed in blocks:
memory does not grow with ``fine`` (``_depth_ladder``).

Noise factor (a choice of this run, ``NOISE_FACTOR``, store attr ``noise_factor``): every model
of the ladder, the fine reference included, takes the layer

    X_{l+1} = Π(Y_l + √Δ F(Σ(Y_l)) ξ_l),  Y_l = Π(X_l + Δ b(X_l)),  F(Σ) = chol(Σ),

i.e. X_{l+1} = X_l + Δ b(X_l) + √Δ F(Σ(X_l)) ξ_l up to the projections Π onto the sphere, with
Σ = K(Y) = κ(Y Yᵀ) the infinite-width token covariance and F its lower Cholesky factor
(F Fᵀ = Σ), instead of the symmetric root Σ^{1/2} of ``discrete.simulate``'s default field. Both
give the noise the law N(0, Σ ⊗ I_d), so the model and its limit are unchanged; the pathwise
coupling stays exact because every model uses the same F and the same Brownian increments (the
reference solves the SDE with diffusion coefficient chol(Σ(X)), driven by the same W). A Cholesky
factor costs a fraction of ``eigh``. Where Cholesky fails on a matrix (``cholesky_ex`` info ≠ 0:
Σ numerically singular, e.g. tokens that coincide) that matrix alone takes the symmetric root
(``field.cholesky_factor``, a rule that depends on Σ only, so it is the same for every model);
the store's ``factor_fallbacks`` counts those matrices over all models and layers (0: the
coupling was the pure Cholesky one). The width, sync and chaos runs keep the symmetric root.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch
import xarray as xr

from attnlimits.sde.discrete import coarsen, layer_step, uniform_tokens
from attnlimits.sde.dynamics import Attention
from attnlimits.sde.field import CholeskyNoise, GaussianField, NoiseField, zonal_kernel
from attnlimits.sde.limit import reference_error_estimates, sup_mean_square
from attnlimits.sde.runs.common import (
    Progress,
    Ticker,
    identity_attention,
    row,
    row_attrs,
    row_exponents,
)
from attnlimits.seeding import generator
from attnlimits.storage import variable as _var

X_REF_TIMES = 65
"""Equally spaced times of the depth store's reference sample ``x_ref_sample``."""
NOISE_FACTOR = "cholesky"
"""The noise factor F of every model of the depth ladder (store attr ``noise_factor``): F = chol."""
BLOCK_NUMBERS = 2**22
"""Normals per block of the streamed fine grid in ``run_depth`` (32 MiB of float64)."""


def brownian_blocks(
    seed: int,
    seeds: Sequence[int],
    steps: int,
    n: int,
    d: int,
    block: int,
    device: torch.device | str = "cpu",
) -> Iterator[torch.Tensor]:
    """The normals of ``brownian_normals(seed, seeds, steps, n, d)`` in blocks (R, block, N, d).

    Same streams (seed r from ``generator(seed, "sde.brownian", seeds[r])``), drawn block after
    block: numpy fills standard normals sequentially, so the concatenated blocks equal the single
    draw bit for bit, without holding all ``steps`` at once.
    """
    if block < 1 or steps % block:
        raise ValueError(f"block = {block} must divide steps = {steps}")
    gens = [generator(seed, "sde.brownian", s) for s in seeds]
    for _ in range(steps // block):
        out = np.stack([g.standard_normal((block, n, d)) for g in gens])
        yield torch.as_tensor(out, dtype=torch.float64, device=device)


def _block_size(fine: int, strides: Sequence[int], per_step: int, budget: int) -> int:
    """Largest divisor B of ``fine`` with B·per_step ≤ budget that each stride r divides or is
    divided by (r | B: whole layers per block; B | r: a layer spans whole blocks)."""
    limit = max(1, budget // max(1, per_step))
    best = 1
    for b in range(1, min(fine, limit) + 1):
        if fine % b == 0 and all(r % b == 0 or b % r == 0 for r in strides):
            best = b
    return best


def _depth_ladder(
    x0: torch.Tensor,
    attn: Attention,
    horizon: float,
    field: NoiseField,
    blocks: Iterator[torch.Tensor],
    fine: int,
    layer_counts: Sequence[int],
    pairs: Sequence[tuple[int, int]],
    block: int,
    sample_at: Sequence[int],
    ticker: Ticker,
) -> tuple[dict[tuple[int, int], torch.Tensor], torch.Tensor]:
    """Run every model with L ∈ ``layer_counts`` layers on the same fine increments, streamed.

    Model L has Δ = T/L and layer noise ξ_l = Σ_{k ∈ layer l} ξ_fine[k] / sqrt(r), r = fine/L,
    exactly as ``simulate_depth`` (``coarsen`` + ``simulate``, one block at a time; a layer that
    spans several blocks sums its blocks' normals first). For every pair (lo, hi) (lo | hi) it
    returns, per seed, sup over lo's layer times of (1/N) Σᵢ |X_loⁱ − X_hiⁱ|², i.e.
    ``pathwise_error(path_lo, path_hi)``; and the fine model's seed-0 tokens at the fine indices
    ``sample_at``. Equal to the library composition up to the summation order of the layers that
    span blocks (bit for bit where r divides the block).

    The models run in lock step: at fine step k every model whose layer ends at k takes that
    layer, all of them in one batch (``layer_step`` with per-system Δ), so the fine model's
    L_fine layers carry the ladder's and the coarse models' layers (about 1.9 L_fine layers in
    L_fine batched calls instead of separate ones). Every operation of a layer acts on each
    system alone, so the values are those of separate ``simulate`` calls, bit for bit. Every
    model samples its noise through the one ``field`` (``run_depth``: ``CholeskyNoise``), so
    all of them use the same noise factor F(Σ).
    """
    reps = x0.shape[0]
    dev = x0.device
    state = {L: x0 for L in layer_counts}
    acc: dict[int, torch.Tensor] = {}
    sups = {p: torch.zeros(reps, dtype=torch.float64, device=dev) for p in pairs}
    wanted = {int(k) for k in sample_at}
    samples: dict[int, torch.Tensor] = {}
    if 0 in wanted:
        samples[0] = x0[0].clone()
    strides = {L: fine // L for L in layer_counts}
    steps: dict[tuple[int, ...], tuple[torch.Tensor, torch.Tensor]] = {}

    def step_sizes(group: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor]:
        """Δ and sqrt(Δ) of each system of the batch of ``group``, (len·R, 1, 1)."""
        if group not in steps:
            dts = [horizon / L for L in group]
            dt = torch.tensor(dts, dtype=torch.float64, device=dev).repeat_interleave(reps)
            root = torch.tensor([math.sqrt(h) for h in dts], dtype=torch.float64, device=dev)
            steps[group] = (dt.view(-1, 1, 1), root.repeat_interleave(reps).view(-1, 1, 1))
        return steps[group]

    start = 0
    for xi in blocks:
        end = start + block
        noise: dict[int, torch.Tensor] = {}
        paths: dict[int, torch.Tensor] = {}
        times: dict[int, np.ndarray] = {}
        for L in layer_counts:
            r = strides[L]
            if block % r == 0:
                noise[L] = coarsen(xi, block // r)
                times[L] = np.arange(start + r, end + 1, r)
            else:
                acc[L] = acc[L] + xi.sum(1) if L in acc else xi.sum(1)
                if end % r:
                    continue
                noise[L] = (acc.pop(L) / math.sqrt(r)).unsqueeze(1)
                times[L] = np.array([end])
            paths[L] = torch.empty(
                (reps, len(times[L]), *x0.shape[1:]), dtype=torch.float64, device=dev
            )
        for k in range(1, block + 1):
            # models whose layer ends at fine step start + k (a spanning model: at the block end)
            group = tuple(
                L for L in times if (k % strides[L] == 0 if block % strides[L] == 0 else k == block)
            )
            j = {L: k // strides[L] - 1 if block % strides[L] == 0 else 0 for L in group}
            x = torch.cat([state[L] for L in group])
            xi_k = torch.cat([noise[L][:, j[L]] for L in group])
            dt, root = step_sizes(group)
            x = layer_step(x, attn, dt, root, field, 0, xi_k)
            for L, x_l in zip(group, x.split(reps), strict=True):
                state[L] = x_l
                paths[L][:, j[L]] = x_l
        for lo, hi in pairs:
            if lo not in times:
                continue
            rows = torch.as_tensor(np.searchsorted(times[hi], times[lo]), device=dev)
            gap = sup_mean_square(paths[lo], paths[hi][:, rows])
            sups[lo, hi] = torch.maximum(sups[lo, hi], gap)
        for k in sorted(wanted & set(range(start + 1, end + 1))):
            samples[k] = paths[fine][0, k - start - 1].clone()
        ticker.tick(block)
        start = end
    return sups, torch.stack([samples[int(k)] for k in sample_at])


def run_depth(
    spec: Mapping[str, Any],
    device: torch.device | str = "cpu",
    progress: Progress | None = None,
    *,
    block: int | None = None,
) -> xr.Dataset:
    """Depth store: err2(L, seed) = sup_l (1/N) Σᵢ |X_lⁱ − X̄ⁱ(t_l)|² against the fine reference.

    spec = {activation, d, sigma, attention_sign, beta, T, seed, N, L, fine, levels, seeds}.
    The reference X̄ is the infinite-width discrete model with ``fine`` layers (``limit.reference``);
    every model (coarse L, ladder fine/2, …, fine/2^levels) is driven by the same fine increments
    ``brownian_normals(seed, 0..R−1, fine, N, d)`` from X₀ = ``uniform_tokens(seed, 0..R−1, N, d)``.
    level_diff2(level, seed) is the successive difference of the ladder (level against 2·level);
    reference_error = rms(level fine/2)/(√2 − 1) (triangle bound), reference_error_orthogonal =
    rms(level fine/2)/√(2 − 1), as ``limit.successive_differences``. ``block`` fixes the number
    of fine steps streamed at once (default: as many as ``BLOCK_NUMBERS`` normals allow).
    Every model's noise is F(K(Y)) ξ with F = chol (``CholeskyNoise``, see the module docstring);
    factor_fallbacks counts the matrices where Cholesky failed and the symmetric root was used.
    """
    activation, d, sigma = row(spec)
    n, fine, levels, reps = (
        int(spec["N"]),
        int(spec["fine"]),
        int(spec["levels"]),
        int(spec["seeds"]),
    )
    horizon, seed = float(spec["T"]), int(spec["seed"])
    coarse = sorted({int(L) for L in spec["L"]})
    if levels < 1:
        raise ValueError("the depth run needs levels >= 1 (the reference's own error)")
    ladder = [fine // 2**j for j in range(1, levels + 1)]
    if fine % 2**levels or any(fine % L for L in coarse):
        raise ValueError(f"every L {coarse} and 2^levels = {2**levels} must divide fine = {fine}")
    layer_counts = sorted({fine, *ladder, *coarse}, reverse=True)
    pairs = [(L, fine) for L in coarse] + [(lv, 2 * lv) for lv in ladder]
    strides = [fine // L for L in layer_counts]
    if block is None:
        block = _block_size(fine, strides, reps * n * d, BLOCK_NUMBERS)
    elif fine % block or any(r % block and block % r for r in strides):
        raise ValueError(f"block {block} does not fit fine = {fine} and strides {strides}")

    kappa = zonal_kernel(activation, d, sigma, sigma)
    seeds = list(range(reps))
    x0 = uniform_tokens(seed, seeds, n, d, device)
    sample_at = np.rint(np.linspace(0, fine, X_REF_TIMES)).astype(np.int64)
    ticker = Ticker(progress, fine)
    noise = CholeskyNoise(GaussianField(kappa))
    sups, x_ref_sample = _depth_ladder(
        x0,
        identity_attention(spec, device),
        horizon,
        noise,
        brownian_blocks(seed, seeds, fine, n, d, block, device),
        fine,
        layer_counts,
        pairs,
        block,
        sample_at,
        ticker,
    )
    err2 = torch.stack([sups[L, fine] for L in coarse])
    level_diff2 = torch.stack([sups[lv, 2 * lv] for lv in ladder])
    triangle, orthogonal = reference_error_estimates(
        math.sqrt(float(level_diff2[0].mean())), fine / ladder[0]
    )
    ds = xr.Dataset(
        {
            "err2": _var(
                err2,
                ("L", "seed"),
                "sup over layer times t_l of (1/N) sum_i |X_l^i - Xref^i(t_l)|^2",
            ),
            "level_diff2": _var(
                level_diff2,
                ("level", "seed"),
                "sup over the level's layer times of (1/N) sum_i |X_level^i - X_(2 level)^i|^2",
            ),
            "reference_error": _var(
                triangle,
                (),
                "reference RMS error estimate, triangle bound rms(diff fine/2)/(sqrt(2) - 1)",
            ),
            "reference_error_orthogonal": _var(
                orthogonal,
                (),
                "reference RMS error estimate, orthogonal differences rms(diff fine/2)",
            ),
            "factor_fallbacks": _var(
                np.int64(noise.fallbacks),
                (),
                "noise factors that fell back from Cholesky to the symmetric root (matrices)",
            ),
            "x0": _var(x0, ("seed", "token", "component"), "initial tokens X_0"),
            "x_ref_sample": _var(
                x_ref_sample, ("time", "token", "component"), "reference tokens of seed 0"
            ),
        },
        coords={
            "L": ("L", np.asarray(coarse), {"long_name": "number of layers L", "units": "1"}),
            "seed": ("seed", np.arange(reps), {"long_name": "seed index", "units": "1"}),
            "level": (
                "level",
                np.asarray(ladder),
                {"long_name": "layers of the ladder level (compared with 2 level)", "units": "1"},
            ),
            "time": (
                "time",
                sample_at * horizon / fine,
                {"long_name": "time t of the reference sample", "units": "1"},
            ),
        },
        attrs={
            **row_attrs(spec),
            "T": horizon,
            "N": n,
            "fine": fine,
            "noise_factor": NOISE_FACTOR,
            **{
                k: v for k, v in row_exponents(activation, d, sigma).items() if k != "kappa_prime_1"
            },
        },
    )
    return ds

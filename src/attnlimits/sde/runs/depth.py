"""Depth runs of experiment ``sde``: the L-layer model against the infinite-width reference.

docs/mathematics.md, experiment ``sde``, predictions (depth and width):
E sup_t (1/N) Σᵢ |X_{⌊t/Δ⌋}ⁱ − X̄_tⁱ|² ≤ c (log L / L + 1/m), strong order 1/2 in L.
``run_depth`` measures the pathwise error E sup_l (1/N) Σᵢ |X_lⁱ − X̄ⁱ(t_l)|² of the L-layer model
against the infinite-width reference with ``fine`` layers, all driven by the same fine Brownian
increments (``coarsen``), and the successive differences of the fine ladder (the reference's own
error). The fine grid is streamed in blocks: memory does not grow with ``fine`` (``_depth_ladder``).

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
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import xarray as xr

from attnlimits.sde.discrete import coarsen, layer_step, uniform_tokens
from attnlimits.sde.dynamics import Attention
from attnlimits.sde.field import CholeskyNoise, GaussianField, NoiseField, zonal_kernel
from attnlimits.sde.limit import mean_square, reference_error_estimates
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
        out = np.empty((len(gens), block, n, d))
        for g, part in zip(gens, out, strict=True):
            g.standard_normal(out=part)  # seed r's normals written in place: no stacking copy
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


Rows = slice | torch.Tensor
"""Rows of a tensor: a slice where they are consecutive (a view), else an index tensor."""


def _rows(index: Sequence[int], device: torch.device) -> Rows:
    """``index`` as a slice when it is a run of consecutive integers, else as a tensor."""
    if len(index) and list(index) == list(range(index[0], index[0] + len(index))):
        return slice(index[0], index[0] + len(index))
    return torch.as_tensor(list(index), dtype=torch.int64, device=device)


def _take(x: torch.Tensor, rows: Rows) -> torch.Tensor:
    return x[rows] if isinstance(rows, slice) else x.index_select(0, rows)


@dataclass(frozen=True)
class _Group:
    """One lock-step batch of ``_depth_ladder``: the models at ``positions`` (ascending) take a
    layer together. ``rows``: their rows in the state array (model p: p·R + seed); ``dt``,
    ``root``: Δ and sqrt(Δ) per system (len·R, 1, 1); ``lo``, ``hi``: the batch rows of the pairs
    (lo, hi) whose lo takes this layer (hi then takes one too), ``slots`` their rows in the
    running sup array (pair q: q·R + seed); ``compares``: whether there is such a pair."""

    positions: tuple[int, ...]
    rows: Rows
    dt: torch.Tensor
    root: torch.Tensor
    lo: Rows
    hi: Rows
    slots: Rows
    compares: bool

    @classmethod
    def build(
        cls,
        positions: tuple[int, ...],
        layer_counts: Sequence[int],
        pairs: Sequence[tuple[int, int]],
        horizon: float,
        reps: int,
        device: torch.device,
    ) -> _Group:
        """The batch of the models at ``positions``; ``pairs`` given as positions."""

        def seeds(first: int) -> list[int]:
            return list(range(first, first + reps))

        rank = {p: i for i, p in enumerate(positions)}
        active = [(q, lo, hi) for q, (lo, hi) in enumerate(pairs) if lo in rank]
        dts = [horizon / layer_counts[p] for p in positions]
        dt = torch.tensor(dts, dtype=torch.float64, device=device).repeat_interleave(reps)
        root = torch.tensor([math.sqrt(h) for h in dts], dtype=torch.float64, device=device)
        return cls(
            positions,
            _rows([r for p in positions for r in seeds(p * reps)], device),
            dt.view(-1, 1, 1),
            root.repeat_interleave(reps).view(-1, 1, 1),
            _rows([r for _, lo, _ in active for r in seeds(rank[lo] * reps)], device),
            _rows([r for _, _, hi in active for r in seeds(rank[hi] * reps)], device),
            _rows([r for q, _, _ in active for r in seeds(q * reps)], device),
            bool(active),
        )


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
    layer, all of them in one batch (``layer_step``'s operations with per-system Δ), so the fine
    model's L_fine layers carry the ladder's and the coarse models' layers (about 1.9 L_fine
    layers in L_fine batched calls instead of separate ones). Every operation of a layer acts on
    each system alone, so the values are those of separate ``simulate`` calls, bit for bit.
    Every model samples its noise through the one ``field`` (``run_depth``: ``CholeskyNoise``),
    so all of them use the same noise factor F(Σ).

    The models' tokens live in one array, in the order of ``layer_counts`` (descending, the fine
    model first): a batch of the first models (every batch when the strides divide one another)
    is a view of it, and its new tokens are written in place. The distance of each pair is taken
    right after the layer that ends at one of lo's layer times (the running sup of
    ``sup_mean_square``'s per-time values: the same numbers), while the tokens are in cache.
    The layer noises of models with several layers per block are coarsened chunk by chunk (the
    lcm of their strides; ``coarsen`` of a chunk is that chunk of ``coarsen``, bit for bit), and
    the block sum is taken once for every model with at most one layer in the block.
    """
    reps, dev = x0.shape[0], x0.device
    if layer_counts[0] != fine:
        raise ValueError("layer_counts must start with fine")
    position = {L: p for p, L in enumerate(layer_counts)}
    strides = [fine // L for L in layer_counts]
    by_position = [(position[lo], position[hi]) for lo, hi in pairs]
    state = x0.repeat(len(layer_counts), 1, 1)
    running = torch.zeros(len(pairs) * reps, dtype=torch.float64, device=dev)
    wanted = {int(k) for k in sample_at}
    samples: dict[int, torch.Tensor] = {}
    if 0 in wanted:
        samples[0] = x0[0].clone()
    groups: dict[tuple[int, ...], _Group] = {}
    acc: dict[int, torch.Tensor] = {}
    start = 0
    # models with several layers per block take their layer noises (coarsen) chunk after chunk,
    # chunk = the lcm of their strides, just before the chunk's steps (the normals in cache)
    chunk = math.lcm(*(r for r in strides if block % r == 0 and r < block))
    for xi in blocks:
        end = start + block
        # the layer noise (R, 1, N, d) of each model with at most one layer in the block: one
        # block sum Σ_k ξ_fine[k] (the sum ``coarsen`` takes for r = block) for all of them
        whole: dict[int, torch.Tensor] = {}
        total = None
        for p, r in enumerate(strides):
            if block % r == 0 and r < block:
                continue
            total = xi.sum(1) if total is None else total
            if r == block:
                whole[p] = (total / math.sqrt(r)).unsqueeze(1)
                continue
            acc[p] = acc[p] + total if p in acc else total
            if end % r == 0:
                whole[p] = (acc.pop(p) / math.sqrt(r)).unsqueeze(1)
        for first in range(start, end, chunk):
            part = xi[:, first - start : first - start + chunk]
            # layer noises (R, layers, N, d) of the models whose layers end in this chunk
            noise: dict[int, torch.Tensor] = {}
            for p, r in enumerate(strides):
                if p in whole:
                    noise[p] = whole[p]
                elif block % r == 0 and r < block:
                    noise[p] = part if r == 1 else coarsen(part, chunk // r)
            for k in range(first + 1, first + chunk + 1):
                positions = tuple(p for p in noise if k % strides[p] == 0)
                if positions not in groups:
                    groups[positions] = _Group.build(
                        positions, layer_counts, by_position, horizon, reps, dev
                    )
                g = groups[positions]
                # layer (k − first)/r − 1 of the chunk; the one layer of a model in ``whole``
                parts = [
                    noise[p][:, 0 if p in whole else (k - first) // strides[p] - 1]
                    for p in positions
                ]
                xi_k = parts[0] if len(parts) == 1 else torch.cat(parts)
                if isinstance(g.rows, slice):
                    rows = state[g.rows]
                    x = layer_step(rows, attn, g.dt, g.root, field, 0, xi_k, out=rows)
                else:
                    x = layer_step(_take(state, g.rows), attn, g.dt, g.root, field, 0, xi_k)
                    state.index_copy_(0, g.rows, x)
                if g.compares:
                    gap = mean_square(_take(x, g.lo), _take(x, g.hi))
                    if isinstance(g.slots, slice):
                        torch.maximum(running[g.slots], gap, out=running[g.slots])
                    else:
                        running.index_copy_(
                            0, g.slots, torch.maximum(running.index_select(0, g.slots), gap)
                        )
                if k in wanted:
                    samples[k] = x[0].clone()
        ticker.tick(block)
        start = end
    sups = running.view(len(pairs), reps)
    return (
        {pair: sups[q] for q, pair in enumerate(pairs)},
        torch.stack([samples[int(k)] for k in sample_at]),
    )


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

"""A synthetic consolidated ``heads`` dataset with known rates, for the statistics and claims tests.

Deviations from the limit, per cell, seed s, input, layer ℓ and token i:
``D_s(ℓ)ⁱ = (t_ℓ / T) · N^ν · ( a L^(−p) uⁱ + c (L H)^(−1/2) z_sⁱ )``,
uⁱ unit vectors (fixed per input), z_sⁱ i.i.d. N(0, I/d). The deviation grows with ℓ, so every
maximum over layers sits at ℓ = L: the bias (error of the seed mean) is a L^(−p) N^ν and the
seed-to-seed fluctuation c (L H)^(−1/2) N^ν, up to sampling noise. ``e2``, ``e_inf`` and ``gram``
are computed from D exactly as the pipeline defines them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import xarray as xr


def deviations(
    rng: np.random.Generator,
    L: int,
    H: int,
    N: int,
    d: int,
    seeds: int,
    inputs: int,
    bias_exponent: float,
    bias_scale: float,
    fluct_scale: float,
    n_exponent: float,
) -> np.ndarray:
    """D of the module docstring, shape (seeds, inputs, L+1, N, d)."""
    u = rng.standard_normal((inputs, N, d))
    u /= np.linalg.norm(u, axis=-1, keepdims=True)
    z = rng.standard_normal((seeds, inputs, N, d)) / np.sqrt(d)
    state = bias_scale * L**-bias_exponent * u + fluct_scale * (L * H) ** -0.5 * z
    profile = np.arange(L + 1) / L
    return N**n_exponent * profile[None, None, :, None, None] * state[:, :, None]


def gram_of(dev: np.ndarray) -> np.ndarray:
    """G[input, ℓ, s, s′] = (1/N) Σᵢ ⟨D_sⁱ, D_{s′}ⁱ⟩ for D (seeds, inputs, layers, N, d)."""
    return np.einsum("aelnk,belnk->elab", dev, dev) / dev.shape[3]


def synthetic_heads(
    L: Sequence[int] = (4, 8, 16, 32),
    H: Sequence[int] = (1, 4, 16, 64),
    N: int = 16,
    tokens_N: Sequence[int] = (8, 16, 32, 64),
    tokens_LH: tuple[int, int] = (16, 4),
    d: int = 3,
    beta: float = 1.0,
    seeds: int = 16,
    inputs: int = 2,
    bias_exponent: Mapping[str, float] | None = None,
    bias_scale: float = 1.0,
    fluct_scale: float = 1.0,
    n_exponent: float = -0.5,
    limit_error: float = 1e-12,
    seed: int = 0,
) -> xr.Dataset:
    """The dense hypercube over (mask, normalisation, N, d, beta, L, H), NaN off the grids.

    ``bias_exponent`` maps mask → p (default encoder 1, causal 1).
    """
    bias_exponent = dict(bias_exponent or {"encoder": 1.0, "causal": 1.0})
    masks = list(bias_exponent)
    Ls = sorted(set(L) | {tokens_LH[0]})
    Hs = sorted(set(H) | {tokens_LH[1]})
    Ns = sorted(set(tokens_N) | {N})
    layers = max(Ls) + 1
    cells = [(n, ell, h) for ell in L for h in H for n in [N]]
    cells += [(n, *tokens_LH) for n in tokens_N if (n, *tokens_LH) not in cells]
    shape = (len(masks), 1, len(Ns), 1, 1, len(Ls), len(Hs))
    e2 = np.full((*shape, seeds, inputs), np.nan)
    e_inf = np.full((*shape, seeds, inputs), np.nan)
    gram = np.full((*shape, inputs, layers, seeds, seeds), np.nan)
    rng = np.random.default_rng(seed)
    for m, mask in enumerate(masks):
        for n, ell, h in cells:
            dev = deviations(
                rng, ell, h, n, d, seeds, inputs, bias_exponent[mask], bias_scale, fluct_scale,
                n_exponent,
            )  # fmt: skip
            at = (m, 0, Ns.index(n), 0, 0, Ls.index(ell), Hs.index(h))
            sq = np.sum(dev**2, axis=-1)  # (seeds, inputs, layers, N)
            e2[at] = np.sqrt(np.max(np.mean(sq, axis=-1), axis=-1))
            e_inf[at] = np.sqrt(np.max(sq, axis=(-2, -1)))
            gram[at][:, : ell + 1] = gram_of(dev)
    cell_dims = ("mask", "normalisation", "N", "d", "beta", "L", "H")
    coords = {
        "mask": masks,
        "normalisation": ["sphere"],
        "N": Ns,
        "d": [d],
        "beta": [beta],
        "L": Ls,
        "H": Hs,
        "seed": np.arange(seeds),
        "seed_": np.arange(seeds),
        "input": np.arange(inputs),
        "layer": np.arange(layers),
    }
    return xr.Dataset(
        {
            "e2": (cell_dims + ("seed", "input"), e2),
            "e_inf": (cell_dims + ("seed", "input"), e_inf),
            "gram": (cell_dims + ("input", "layer", "seed", "seed_"), gram),
            "limit_error": (cell_dims[:5], np.full(shape[:5], limit_error)),
        },
        coords=coords,
        attrs={"T": 1.0, "seeds": seeds},
    )

"""The per-layer noise field of the ``sde`` experiment at the N tokens (docs/mathematics.md,
``sde``).

Given tokens Y (..., N, d) and standard normals ξ (..., N, d), the field values
``G(Y) = S ξ`` (per coordinate k: ``G_k(Y) = S ξ[:, k]``, so the covariance is ``C ⊗ I_d``) with
``S`` the symmetric positive semi-definite square root of the token covariance C (N × N):

* infinite width (the Gaussian field itself): ``C = K(Y) = κ(Y Yᵀ)``, κ applied elementwise to the
  Gram matrix (entries clipped to [−1, 1]);
* finite width m, given U (m × d) and b_U (m): ``a = φ(U Yᵀ/sqrt(d) + b_U)`` (m × N) and
  ``C = C_m(Y) = aᵀa/m + σ_W² 11ᵀ``; given U and b_U the MLP output m^(−1/2) W a + b_W at the N
  tokens is exactly N(0, C_m ⊗ I_d), so W and b_W are never drawn.

The two widths use the SAME ξ through their own square roots, ``S_m ξ`` and ``S ξ``: this couples
the finite-width noise with the Gaussian field pathwise (at the current token positions). The
symmetric root is unique (whatever eigenbasis ``eigh`` returns for repeated eigenvalues), so the
coupling is well defined; negative eigenvalues from rounding are clipped to 0. ``CholeskyNoise``
wraps a field with the factor F = chol(C) instead (F Fᵀ = C, same law, other values, a fraction of
the cost; ``cholesky_factor`` falls back to the symmetric root where Cholesky fails): the depth
runs' choice, where every coupled model uses it.

κ is evaluated fast: relu by its closed form (arc-cosine kernel, in torch); every other activation
from a table of κ on a uniform grid of u ∈ [−1, 1] (``DEFAULT_TABLE_SIZE`` points, by the split
quadrature of ``kernel.py``) with local 4-point (cubic Lagrange) interpolation. For smooth φ the
interpolation error is O(h⁴ κ⁗); measured against direct quadrature at 2001 grid midpoints for
silu, sigmoid, tanh and (d, σ_U = σ_W) ∈ {(5, 0), (64, 0.1), (7, 1.2), (2, 0.5)}, the largest error
relative to κ(1) is 1.4e-14 with 2^12+1 or 2^14+1 points (the quadrature's own level) and 3.9e-13
with 2^10+1 (see ``TabulatedKernel.interpolation_error``). A table would be inaccurate for a kink
at u = ±1 (relu: κ has a (1−u)^{3/2} term at σ_U = 0), hence relu's closed form.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import torch

from attnlimits.sde.activations import get_activation, torch_activation
from attnlimits.sde.kernel import kappa_one, kernel
from attnlimits.seeding import generator

DEFAULT_TABLE_SIZE = 2**12 + 1
"""Grid points of the κ table on [−1, 1] (h = 2^−11; ~0.4 s of quadrature, cached per process)."""

# --------------------------------------------------------------------------- linear algebra


def psd_sqrt(c: torch.Tensor) -> torch.Tensor:
    """S = V diag(sqrt(max(λ, 0))) Vᵀ, the symmetric PSD root of C = V diag(λ) Vᵀ (..., N, N).

    C is symmetrised first; eigenvalues below 0 (rounding) are clipped to 0; S is returned exactly
    symmetric.
    """
    lam, vec = torch.linalg.eigh((c + c.transpose(-1, -2)).mul_(0.5))
    s = (vec * lam.clamp_min_(0.0).sqrt_().unsqueeze(-2)) @ vec.transpose(-1, -2)
    return (s + s.transpose(-1, -2)).mul_(0.5)


def cholesky_factor(c: torch.Tensor) -> tuple[torch.Tensor, int]:
    """F with F Fᵀ = C (..., N, N): the lower Cholesky factor, the symmetric root where it fails.

    Per matrix: F = L, C = L Lᵀ with L lower triangular and a positive diagonal (LAPACK reads C's
    lower triangle), when ``torch.linalg.cholesky_ex`` reports success (info = 0, C numerically
    positive definite); otherwise (a singular or rounding-indefinite C, e.g. coinciding tokens)
    F = ``psd_sqrt(C)`` for that matrix alone. The rule depends on C only, so every system that
    meets the same C gets the same F. Returns (F, the number of matrices that fell back).

    Any F with F Fᵀ = C gives the noise F ξ the law N(0, C ⊗ I_d); which one is used matters only
    for pathwise couplings, where every coupled model must use the same F (``runs.depth``).
    """
    return _cholesky_or_root(c, lambda failed: c[failed])


def _cholesky_or_root(
    c: torch.Tensor, full: Callable[[torch.Tensor], torch.Tensor]
) -> tuple[torch.Tensor, int]:
    """``cholesky_factor`` of the matrices C whose lower triangles ``c`` holds (LAPACK reads no
    other entry); ``full(failed)`` gives the whole matrices C where Cholesky fails (the symmetric
    root reads both triangles). Returns (F, the number of fallbacks)."""
    factor, info = torch.linalg.cholesky_ex(c)
    if not bool(info.any()):
        return factor, 0
    failed = info != 0
    factor = factor.clone()
    factor[failed] = psd_sqrt(full(failed))
    return factor, int(failed.sum())


def gram(y: torch.Tensor) -> torch.Tensor:
    """⟨yⁱ, yʲ⟩ clipped to [−1, 1], for tokens (..., N, d) on the sphere."""
    return (y @ y.transpose(-1, -2)).clamp_(-1.0, 1.0)


def cosine_gram(x: torch.Tensor) -> torch.Tensor:
    """⟨x̂ⁱ, x̂ʲ⟩ with x̂ = x/|x| (the zonal extension of the field off the sphere), in [−1, 1]."""
    return gram(x / torch.linalg.vector_norm(x, dim=-1, keepdim=True))


# --------------------------------------------------------------------------- the kernel κ


@dataclass(frozen=True)
class ZonalKernel:
    """κ(u) for one (activation, d, σ_U, σ_W), elementwise on torch tensors of u ∈ [−1, 1]."""

    activation: str
    d: int
    sigma_u: float
    sigma_w: float

    @property
    def kappa_1(self) -> float:
        """κ(1) = E[φ(sZ)²] + σ_W² (quadrature, or relu's closed form)."""
        return kappa_one(self.activation, self.d, self.sigma_u, self.sigma_w)

    def __call__(self, u: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


@dataclass(frozen=True)
class ReluKernel(ZonalKernel):
    """relu: κ(u) = s²/(2π) (sqrt(1−ρ²) + (π − arccos ρ) ρ) + σ_W², ρ = (u/d + σ_U²)/s², exact."""

    def __call__(self, u: torch.Tensor) -> torch.Tensor:
        # in place on fresh tensors, the operations of the formula in its order (commuted only)
        s2 = 1.0 / self.d + self.sigma_u**2
        rho = (u / self.d).add_(self.sigma_u**2).div_(s2).clamp_(-1.0, 1.0)
        # c − v as rsub: the value of (−v) + c exactly (IEEE subtraction adds the negation)
        root = torch.rsub(rho * rho, 1.0).clamp_min_(0.0).sqrt_()
        out = torch.rsub(torch.arccos(rho), math.pi).mul_(rho).add_(root)
        return out.mul_(s2 / (2.0 * math.pi)).add_(self.sigma_w**2)


@lru_cache(maxsize=16)
def _table(activation: str, d: int, sigma_u: float, sigma_w: float, size: int) -> np.ndarray:
    u = np.linspace(-1.0, 1.0, size)
    out = kernel(u, activation, d, sigma_u, sigma_w, method="quadrature")
    out.setflags(write=False)
    return out


def lagrange_cubic(values: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """4-point Lagrange interpolation of ``values`` (uniform grid on [−1, 1]) at u ∈ [−1, 1].

    With t = (u+1)/h and i = clamp(⌊t⌋, 1, n−3), f = t − i, the stencil is i−1..i+2 with weights
    −f(f−1)(f−2)/6, (f+1)(f−1)(f−2)/2, −(f+1)f(f−2)/2, (f+1)f(f−1)/6 (one-sided at the ends);
    error ≤ (h⁴/24)·max|κ⁗|·max|Π(f−x_k)| = O(h⁴).
    """
    n = values.shape[0]
    h = 2.0 / (n - 1)
    t = u.clamp(-1.0, 1.0).add_(1.0).div_(h)
    i = t.floor().clamp_(1, n - 3)
    f = t.sub_(i)
    # (4, ...): values[i−1], …, values[i+2], one gather for the four (each row contiguous, so
    # that the products below run vectorised)
    index = i.long().reshape(1, -1)
    stencil = torch.gather(_stencils(values), 1, index.expand(4, -1)).view(4, *i.shape)
    fm, f1, f2 = f + 1.0, f - 1.0, f - 2.0
    # The four terms as written above, regrouped without changing a rounding: (−a)·b = −(a·b)
    # and (−a)/c = −(a/c) exactly, so the first term is subtracted; f·(f−1) and (f+1)·f are shared.
    p01, q = f * f1, fm * f
    w0 = (p01 * f2).div_(6.0).mul_(stencil[0])
    w1 = (fm * f1).mul_(f2).div_(2.0).mul_(stencil[1])
    w2 = (q * f2).div_(2.0).mul_(stencil[2])
    w3 = q.mul_(f1).div_(6.0).mul_(stencil[3])
    return w1.sub_(w0).sub_(w2).add_(w3)


def _stencils(values: torch.Tensor) -> torch.Tensor:
    """(4, n) table whose column i holds values[i−1], values[i], values[i+1], values[i+2]
    (columns 1 to n−3 are used), so that ``lagrange_cubic`` gathers its stencil once; cached per
    table."""
    key = (values.data_ptr(), values.shape[0], str(values.device))
    if key not in _STENCILS:
        padded = torch.cat([values[:1], values, values[-2:]])
        if len(_STENCILS) >= 32:
            _STENCILS.clear()
        table = padded.unfold(0, 4, 1)[: values.shape[0]].t().contiguous()
        _STENCILS[key] = (table, values)
    return _STENCILS[key][0]


_STENCILS: dict = {}


@dataclass(frozen=True)
class TabulatedKernel(ZonalKernel):
    """κ by cubic interpolation of a quadrature table on a uniform grid of [−1, 1] (smooth φ)."""

    size: int = DEFAULT_TABLE_SIZE
    _cache: dict = field(default_factory=dict, compare=False, repr=False)

    def values(self, device: torch.device | str = "cpu") -> torch.Tensor:
        """The table κ(u_k), u_k = −1 + 2k/(size−1), as a float64 tensor on ``device``."""
        key = str(device)
        if key not in self._cache:
            tab = _table(self.activation, self.d, self.sigma_u, self.sigma_w, self.size)
            self._cache[key] = torch.tensor(tab, dtype=torch.float64, device=device)
        return self._cache[key]

    def __call__(self, u: torch.Tensor) -> torch.Tensor:
        return lagrange_cubic(self.values(u.device), u)

    def interpolation_error(self, points: int = 2001) -> float:
        """max |interpolated − quadrature| / κ(1) over ``points`` grid midpoints (worst case)."""
        n = self.size - 1
        k = np.unique(np.linspace(0, n - 1, points).astype(np.int64))
        mid = -1.0 + (2.0 * k + 1.0) / n
        exact = kernel(
            mid, self.activation, self.d, self.sigma_u, self.sigma_w, method="quadrature"
        )
        approx = self(torch.as_tensor(mid, dtype=torch.float64)).numpy()
        return float(np.max(np.abs(approx - exact)) / self.kappa_1)


def zonal_kernel(
    activation: str, d: int, sigma_u: float, sigma_w: float, *, size: int = DEFAULT_TABLE_SIZE
) -> ZonalKernel:
    """κ as a fast torch function: relu's closed form, else a cubic-interpolated table."""
    get_activation(activation)  # raises for an unknown name
    if activation == "relu":
        return ReluKernel(activation, int(d), float(sigma_u), float(sigma_w))
    return TabulatedKernel(activation, int(d), float(sigma_u), float(sigma_w), size=size)


# --------------------------------------------------------------------------- covariances


def infinite_width_covariance(y: torch.Tensor, kappa: ZonalKernel) -> torch.Tensor:
    """K(Y) = κ(Y Yᵀ) (..., N, N), Gram entries clipped to [−1, 1]."""
    return kappa(gram(y))


@lru_cache(maxsize=16)
def _lower_index(n: int, device: str) -> torch.Tensor:
    """Flat indices i·n + j, i ≥ j, of the lower triangle of an n × n matrix (row major)."""
    i, j = torch.tril_indices(n, n)
    return (i * n + j).to(device)


def lower_infinite_width_factor(y: torch.Tensor, kappa: ZonalKernel) -> tuple[torch.Tensor, int]:
    """``cholesky_factor(infinite_width_covariance(y, kappa))`` bit for bit, with κ evaluated on
    the N(N+1)/2 entries on and below the diagonal only (Cholesky reads no other; Y Yᵀ is not
    exactly symmetric in floating point, so the lower entries are taken, not mirrored). A matrix
    where Cholesky fails gets the whole K(Y) for its symmetric root."""
    n = y.shape[-2]
    g = gram(y)
    flat = g.reshape(-1, n * n)
    idx = _lower_index(n, str(y.device)).expand(flat.shape[0], -1)
    lower = kappa(torch.gather(flat, 1, idx))
    c = torch.zeros_like(flat).scatter_(1, idx, lower).view(g.shape)
    return _cholesky_or_root(c, lambda failed: kappa(g[failed]))


def features(
    y: torch.Tensor, u: torch.Tensor, b_u: torch.Tensor, phi: Callable[[torch.Tensor], torch.Tensor]
) -> torch.Tensor:
    """a = φ(U Yᵀ/sqrt(d) + b_U) (..., m, N) for tokens (..., N, d), U (..., m, d), b_U (..., m)."""
    d = y.shape[-1]
    return phi((u @ y.transpose(-1, -2)).div_(math.sqrt(d)).add_(b_u.unsqueeze(-1)))


def finite_width_covariance(
    y: torch.Tensor,
    u: torch.Tensor,
    b_u: torch.Tensor,
    sigma_w: float,
    phi: Callable[[torch.Tensor], torch.Tensor],
) -> torch.Tensor:
    """C_m(Y) = aᵀa/m + σ_W² 11ᵀ (..., N, N), a = φ(U Yᵀ/sqrt(d) + b_U), m = U.shape[−2]."""
    a = features(y, u, b_u, phi)
    return (a.transpose(-1, -2) @ a).div_(u.shape[-2]).add_(sigma_w**2)


def field_values(sqrt_cov: torch.Tensor, xi: torch.Tensor) -> torch.Tensor:
    """G(Y) = S ξ: coordinate k of the field at the N tokens is S ξ[..., :, k]; (..., N, d)."""
    return sqrt_cov @ xi


# --------------------------------------------------------------------------- fields


class NoiseField:
    """A per-layer Gaussian noise field at the tokens: ``sample(y, layer, xi)`` = S(Y) ξ."""

    def covariance(self, y: torch.Tensor, layer: int) -> torch.Tensor:
        """The token covariance C (R, N, N) of layer ``layer`` at tokens y (R, N, d)."""
        raise NotImplementedError

    def sample(self, y: torch.Tensor, layer: int, xi: torch.Tensor) -> torch.Tensor:
        """G_{layer+1}(Y) = S ξ, S = C^{1/2} (symmetric PSD root), ξ (R, N, d) standard normal."""
        return field_values(psd_sqrt(self.covariance(y, layer)), xi)


class CholeskyNoise(NoiseField):
    """The field ``inner`` with the noise factor F = chol(C) instead of the symmetric root.

    ``sample(y, layer, xi)`` = F(C(Y)) ξ with C = ``inner.covariance(y, layer)`` and
    F = ``cholesky_factor`` (lower Cholesky factor; the symmetric root for a matrix where Cholesky
    fails). Same law as ``inner.sample`` (F Fᵀ = C), other values. ``fallbacks`` counts the
    matrices (systems × layers) that took the symmetric root since construction.
    """

    def __init__(self, inner: NoiseField) -> None:
        self.inner = inner
        self.fallbacks = 0

    def covariance(self, y: torch.Tensor, layer: int) -> torch.Tensor:
        return self.inner.covariance(y, layer)

    def factor(self, y: torch.Tensor, layer: int) -> torch.Tensor:
        """F(C(Y)) (R, N, N), counted in ``fallbacks``; for the infinite-width field κ is
        evaluated on the lower triangle only (``lower_infinite_width_factor``, same values)."""
        if isinstance(self.inner, GaussianField):
            factor, fallbacks = lower_infinite_width_factor(y, self.inner.kappa)
        else:
            factor, fallbacks = cholesky_factor(self.covariance(y, layer))
        self.fallbacks += fallbacks
        return factor

    def sample(self, y: torch.Tensor, layer: int, xi: torch.Tensor) -> torch.Tensor:
        return field_values(self.factor(y, layer), xi)


@dataclass(frozen=True)
class GaussianField(NoiseField):
    """The infinite-width field: covariance K(Y) = κ(Y Yᵀ), the same law at every layer."""

    kappa: ZonalKernel

    def covariance(self, y: torch.Tensor, layer: int) -> torch.Tensor:
        return infinite_width_covariance(y, self.kappa)


@dataclass(frozen=True)
class FiniteWidthField(NoiseField):
    """The width-m MLP field: covariance C_m(Y) with U, b_U fresh per layer and seed.

    Seed r of the batch (index ``seeds[r]``) and layer ℓ draw U (m × d, N(0, 1) entries) from
    ``generator(seed, "sde.mlp.U", seeds[r], ℓ)`` and b_U / σ_U from
    ``generator(seed, "sde.mlp.b_U", seeds[r], ℓ)``: two streams, so that the draws at width m are
    the first m rows of those at any larger width (widths nested), and no draw depends on the
    batch composition. Layer indices are those of a fixed depth L (the width study fixes L).
    """

    activation: str
    m: int
    d: int
    sigma_u: float
    sigma_w: float
    seed: int
    seeds: tuple[int, ...]
    draws: NestedDraws | None = field(default=None, compare=False, repr=False)
    """Optional draws at a width ≥ m shared by the fields of several widths (``NestedDraws``):
    U and b_U are then their first m rows, the same numbers, drawn once per layer for all."""

    def weights(
        self, layer: int, device: torch.device | str = "cpu"
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """U (R, m, d) and b_U (R, m) of layer ``layer`` for every seed of the batch."""
        if self.draws is not None and self.draws.m >= self.m:
            u, b = self.draws.weights(layer, device)
            return u[:, : self.m].contiguous(), b[:, : self.m].contiguous()
        return _mlp_weights(self.seed, self.seeds, self.m, self.d, self.sigma_u, layer, device)

    def covariance(self, y: torch.Tensor, layer: int) -> torch.Tensor:
        if y.shape[0] != len(self.seeds) or y.shape[-1] != self.d:
            raise ValueError(
                f"tokens {tuple(y.shape)} do not match R={len(self.seeds)}, d={self.d}"
            )
        u, b = self.weights(layer, y.device)
        return finite_width_covariance(y, u, b, self.sigma_w, torch_activation(self.activation))


def _mlp_weights(
    seed: int,
    seeds: Sequence[int],
    m: int,
    d: int,
    sigma_u: float,
    layer: int,
    device: torch.device | str,
) -> tuple[torch.Tensor, torch.Tensor]:
    """U (R, m, d) and b_U·σ_U (R, m) of ``FiniteWidthField`` (each seed's normals written in
    place into the batch array: the values of ``standard_normal``, no stacking copy)."""
    u = np.empty((len(seeds), m, d))
    b = np.empty((len(seeds), m))
    for r, s in enumerate(seeds):
        generator(seed, "sde.mlp.U", s, layer).standard_normal(out=u[r])
        generator(seed, "sde.mlp.b_U", s, layer).standard_normal(out=b[r])
    u_t = torch.as_tensor(u, dtype=torch.float64, device=device)
    return u_t, torch.as_tensor(b, dtype=torch.float64, device=device) * sigma_u


class NestedDraws:
    """The weights U, b_U of ``FiniteWidthField`` at width ``m`` for (seed, seeds, d, σ_U), the
    latest layer kept: fields of smaller widths sharing it take its first rows (the streams are
    nested in m), so a lock-step run over several widths draws each layer once."""

    def __init__(self, m: int, d: int, sigma_u: float, seed: int, seeds: Sequence[int]) -> None:
        self.m, self.d, self.sigma_u = int(m), int(d), float(sigma_u)
        self.seed, self.seeds = int(seed), tuple(seeds)
        self._key: tuple[int, str] | None = None
        self._value: tuple[torch.Tensor, torch.Tensor] | None = None

    def weights(
        self, layer: int, device: torch.device | str = "cpu"
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """U (R, m, d) and b_U (R, m) at this width for layer ``layer`` (kept until the next)."""
        key = (int(layer), str(device))
        if key != self._key:
            self._value = _mlp_weights(
                self.seed, self.seeds, self.m, self.d, self.sigma_u, layer, device
            )
            self._key = key
        assert self._value is not None
        return self._value


def finite_width_field(
    kappa: ZonalKernel,
    m: int,
    seed: int,
    seeds: Sequence[int],
    draws: NestedDraws | None = None,
) -> FiniteWidthField:
    """The width-m field with the activation and biases of ``kappa`` (whose limit is K); with
    ``draws`` (``NestedDraws`` at a width ≥ m) its weights are their first m rows."""
    return FiniteWidthField(
        kappa.activation,
        int(m),
        kappa.d,
        kappa.sigma_u,
        kappa.sigma_w,
        int(seed),
        tuple(seeds),
        draws,
    )

"""The finite-β and hardmax mean-field flows of experiment ``lowtemp`` (docs/mathematics.md,
``lowtemp``).

A measure μ = Σ_j w_j δ_{x_j} of weighted particles in ℝ^d moves by

    ``plain``:      ẋ = V m_β[μ_t](x),
    ``consensus``:  ẋ = V m_β[μ_t](x) − x,

    m_β[μ](x) = Σ_j w_j e^{β⟨Qx, K x_j⟩} x_j / Σ_j w_j e^{β⟨Qx, K x_j⟩},

evaluated as a softmax of the logits β⟨Qx, K x_j⟩ + log w_j (``torch.softmax`` subtracts the
row maximum, so β up to 1e4 and |x| growing like e^{t} neither overflow nor lose the leader).
At β = ∞ the mean becomes the hardmax m_∞[μ](x) = argmax_{y ∈ supp μ} ⟨Qx, Ky⟩: the maximisers
are the support points whose score is within ``TIE_RTOL`` (relative) of the maximum, and a tie is
resolved deterministically by their barycentre, weighted by their masses.

The plain flow grows like e^{tV}; it is measured in the rescaled variable z = e^{−tV} x
(``rescale``). Both flows are integrated with RK4 (``integrators.solve_fixed``); the hardmax field
is piecewise constant in the leader, so there the scheme is first order at the switching times,
which the tests measure.

The head θ = (Q, K, V) is one :class:`attnlimits.head.Head`, each (d, d); QᵀK must be positive
definite (``heads.make_head`` checks it).
"""

from __future__ import annotations

import torch

from attnlimits.head import Head
from attnlimits.integrators import VectorField, solve_fixed

VARIANTS = ("plain", "consensus")
#: Relative tolerance under which two scores count as tied for the hardmax.
TIE_RTOL = 1e-12


def scores(
    x: torch.Tensor, y: torch.Tensor, qk: torch.Tensor, out: torch.Tensor | None = None
) -> torch.Tensor:
    """⟨Q xⁱ, K yʲ⟩ = xⁱᵀ QᵀK yʲ, shape (n, m) for x (n, d), y (m, d); written into ``out``
    (n, m) when given (the same numbers, without allocating the large matrix)."""
    return torch.matmul(x @ qk, y.T, out=out)


def softmax_mean(
    x: torch.Tensor,
    y: torch.Tensor,
    w: torch.Tensor,
    qk: torch.Tensor,
    beta: float,
    log_w: torch.Tensor | None = None,
    buffer: torch.Tensor | None = None,
) -> torch.Tensor:
    """m_β[μ](xⁱ) for μ = Σ_j w_j δ_{y_j} (module docstring), shape (n, d).

    The logits β⟨Qxⁱ, K yʲ⟩ + log w_j are formed in place in the score matrix (the same
    operations, in the same order, as ``beta * scores + log(w)``); ``log_w`` = log w may be
    passed precomputed (the flow's weights never change), and ``buffer`` (n, m) to hold the
    score matrix: a flow reuses one, which saves allocating (and faulting in) an n × n matrix
    per evaluation, a large part of its cost.
    """
    if log_w is None:
        log_w = torch.log(w)  # log 0 = −inf: massless points drop out
    logits = scores(x, y, qk, buffer).mul_(beta).add_(log_w)
    return torch.softmax(logits, dim=-1) @ y


def hardmax_mean(
    x: torch.Tensor,
    y: torch.Tensor,
    w: torch.Tensor,
    qk: torch.Tensor,
    massless: bool | None = None,
) -> torch.Tensor:
    """m_∞[μ](xⁱ): the mass-weighted barycentre of the maximisers of ⟨Qxⁱ, K y⟩ over supp μ.

    The barycentre is Σ_{j tied} w_j y_j / Σ_{j tied} w_j. When every row has a single
    maximiser j (the usual case) this is (w_j y_j) / w_j, computed by gathering row j: the same
    two roundings as the dense product (mass @ y) / mass.sum() over a row with one non-zero
    mass, so the result is bit-identical, without the n × n mass matrix and its product. Rows
    with ties take the dense form. ``massless`` (whether some w_j ≤ 0) may be passed
    precomputed; points without mass never lead.
    """
    s = scores(x, y, qk)
    if massless is None:
        massless = bool((w <= 0).any())
    if massless:
        s = s.masked_fill(w <= 0, float("-inf"))
    top = s.amax(dim=-1, keepdim=True)
    ties = s >= top - TIE_RTOL * top.abs().clamp(min=1.0)
    found = ties.nonzero()  # (row, column) of every maximiser, in row order
    rows = torch.arange(len(s), device=s.device)
    if len(found) == len(s) and bool((found[:, 0] == rows).all()):  # one maximiser per row
        lead = found[:, 1]
        w_lead = w[lead, None]
        return (w_lead * y[lead]) / w_lead
    mass = ties * w
    return (mass @ y) / mass.sum(-1, keepdim=True)


def mean_field(w: torch.Tensor, head: Head, beta: float, variant: str) -> VectorField:
    """The vector field x ↦ ẋ of all particles (n, d) of μ = Σ w_j δ_{x_j} (module docstring);
    ``beta`` = inf gives the hardmax flow."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}: expected one of {VARIANTS}")
    if not beta > 0:
        raise ValueError(f"beta must be > 0 (inf for hardmax), got {beta}")
    qk, vt = head.qk, head.v.T
    hard = beta == float("inf")
    massless = bool((w <= 0).any())
    log_w = None if hard else torch.log(w)
    buffer = None if hard else w.new_empty((len(w), len(w)))  # the logits of every evaluation

    def field(x: torch.Tensor) -> torch.Tensor:
        if hard:
            m = hardmax_mean(x, x, w, qk, massless)
        else:
            m = softmax_mean(x, x, w, qk, beta, log_w, buffer)
        out = m @ vt
        return out - x if variant == "consensus" else out

    return field


def solve(
    x0: torch.Tensor,
    w: torch.Tensor,
    head: Head,
    beta: float,
    variant: str,
    horizon: float,
    records: int,
    substeps: int,
) -> torch.Tensor:
    """The particles at the ``records`` + 1 times i·horizon/records, (records+1, n, d); RK4 with
    ``records``·``substeps`` steps."""
    f = mean_field(w, head, beta, variant)
    return solve_fixed(lambda x: f(x[0])[None], x0[None], horizon, records, substeps)[0]


def rescale(x: torch.Tensor, times: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """z = e^{−tV} x for states x (T, n, d) at ``times`` (T,)."""
    flows = torch.linalg.matrix_exp(-times[:, None, None] * v)  # (T, d, d)
    return x @ flows.transpose(-1, -2)


def pushforward(y: torch.Tensor, w: torch.Tensor, head: Head, variant: str) -> torch.Tensor:
    """The images of the particles of μ₀ under the projection map of ``variant``, carrying the
    same weights w (ties by the barycentre):

    - ``plain`` (measured in z): x ↦ argmax_{y ∈ supp μ₀} ⟨Qx, Ky⟩ (the map of docs/mathematics.md
      for V = I);
    - ``consensus`` (in x): x ↦ V argmax_{y ∈ supp μ₀} ⟨Qx, Ky⟩, the rest points of
      ẋ = V m_∞ − x for frozen leaders.

    Both are exact terminal laws of the hardmax flow only when every image leads itself (e.g.
    Q = K = V = I on the disc); the pipeline measures the gap for other heads rather than assume
    it.
    """
    lead = hardmax_mean(y, y, w, head.qk)
    if variant == "plain":
        return lead
    if variant == "consensus":
        return lead @ head.v.T
    raise ValueError(f"unknown variant {variant!r}: expected one of {VARIANTS}")

"""The exponents table of experiment ``sde``: κ(1), κ′(1), λ₁, λ̄ over activation × d × σ.

One row per (activation, d, σ = σ_U = σ_W): κ(1) and κ′(1) by quadrature (``kernel``;
docs/mathematics.md, ``sde``, kernel of the limit field), λ₁ and λ̄ from them (``exponents``;
docs/mathematics.md, ``sde``, predictions: synchronization), whether the field is odd and whether
P2's synchronization premise (λ̄ < 0, field not odd) holds; for relu its closed forms beside them,
and Monte Carlo estimates of κ(1) and κ(1/2) from the finite-width definition
(``kernel_monte_carlo``) as an independent check of the quadrature.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from attnlimits.analysis.tables import write_tables
from attnlimits.sde.activations import ACTIVATIONS
from attnlimits.sde.exponents import (
    exponents_from_kappa,
    is_odd_field,
    relu_coercivity_exponent,
    relu_lyapunov_exponent,
)
from attnlimits.sde.kernel import DEFAULT_ORDER, kappa_one, kappa_prime_one, kernel
from attnlimits.sde.kernel_monte_carlo import DEFAULT_SAMPLES, SeedLike, monte_carlo_kernels

TABLE_COLUMNS: tuple[str, ...] = (
    "activation",
    "d",
    "sigma_u",
    "sigma_w",
    "kappa_1",
    "kappa_prime_1",
    "lambda_1",
    "lambda_bar",
    "odd_field",
    "synchronization",
    "lambda_1_closed",
    "lambda_bar_closed",
    "closed_abs_diff",
    "kappa_1_mc",
    "kappa_1_mc_se",
    "kappa_1_mc_rel_err",
    "kappa_half",
    "kappa_half_mc",
    "kappa_half_mc_se",
    "kappa_half_mc_rel_err",
    "kappa_1_mc_se_plain",
    "kappa_half_mc_se_plain",
)


def exponents_table(
    activations: Iterable[str] = ACTIVATIONS,
    dims: Iterable[int] = (5, 64, 128),
    sigmas: Iterable[float] = (0.0, 0.1),
    *,
    samples: int = DEFAULT_SAMPLES,
    seed: SeedLike = 0,
    order: int = DEFAULT_ORDER,
) -> pd.DataFrame:
    """κ(1), κ′(1), λ₁, λ̄, oddness and the synchronization condition over activation × d × σ.

    σ_U = σ_W = σ. κ's and the λ's come from quadrature (``method="quadrature"``); for relu the
    closed forms ``lambda_1_closed``, ``lambda_bar_closed`` are reported beside them
    (``closed_abs_diff`` = the larger of the two absolute differences; NaN for other activations).
    ``kappa_1_mc`` and ``kappa_half_mc`` are Monte Carlo estimates of κ(1) and κ(1/2) from
    ``samples`` rows of U (see ``monte_carlo_kernel``: control variates, one stream per d shared
    by all rows of that d), with standard errors and the relative difference to quadrature;
    ``*_mc_se_plain`` are the standard errors of the plain row average of the same rows, for
    comparison; ``samples=0`` skips them.
    """
    activations, dims, sigmas = list(activations), [int(d) for d in dims], list(sigmas)
    biases = [(float(s), float(s)) for s in sigmas]
    rows = []
    for d in dims:
        if samples > 0:
            mc = monte_carlo_kernels([1.0, 0.5], activations, d, biases, samples, (seed,))
        for i, name in enumerate(activations):
            for j, (su, sw) in enumerate(biases):
                k1 = kappa_one(name, d, su, sw, method="quadrature", order=order)
                kp = kappa_prime_one(name, d, su, sw, method="quadrature", order=order)
                lam1, lam_bar = exponents_from_kappa(d, k1, kp)
                khalf = float(kernel(0.5, name, d, su, sw, method="quadrature", order=order))
                closed = name == "relu"
                l1c = relu_lyapunov_exponent(d, su, sw) if closed else math.nan
                lbc = relu_coercivity_exponent(d, su, sw) if closed else math.nan
                odd = is_odd_field(name, su, sw)
                k1_mc, k1_se, k1_plain, kh_mc, kh_se, kh_plain = (
                    (
                        mc.estimate[i, j, 0], mc.se[i, j, 0], mc.plain_se[i, j, 0],
                        mc.estimate[i, j, 1], mc.se[i, j, 1], mc.plain_se[i, j, 1],
                    )
                    if samples > 0
                    else (math.nan,) * 6
                )  # fmt: skip
                rows.append(
                    {
                        "activation": name,
                        "d": d,
                        "sigma_u": su,
                        "sigma_w": sw,
                        "kappa_1": k1,
                        "kappa_prime_1": kp,
                        "lambda_1": lam1,
                        "lambda_bar": lam_bar,
                        "odd_field": odd,
                        "synchronization": bool(lam_bar < 0.0) and not odd,
                        "lambda_1_closed": l1c,
                        "lambda_bar_closed": lbc,
                        "closed_abs_diff": max(abs(lam1 - l1c), abs(lam_bar - lbc))
                        if closed
                        else math.nan,
                        "kappa_1_mc": float(k1_mc),
                        "kappa_1_mc_se": float(k1_se),
                        "kappa_1_mc_rel_err": float((k1_mc - k1) / k1),
                        "kappa_half": khalf,
                        "kappa_half_mc": float(kh_mc),
                        "kappa_half_mc_se": float(kh_se),
                        "kappa_half_mc_rel_err": float((kh_mc - khalf) / khalf),
                        "kappa_1_mc_se_plain": float(k1_plain),
                        "kappa_half_mc_se_plain": float(kh_plain),
                    }
                )
    return pd.DataFrame(rows, columns=list(TABLE_COLUMNS))


def write_exponents_table(
    df: pd.DataFrame, outdir: str | Path, name: str = "exponents"
) -> list[Path]:
    """Write ``<name>.csv`` (full precision), ``<name>.md`` and ``<name>.html`` (6 significant
    digits) to outdir."""
    return write_tables({name: df}, outdir, floatfmt=".6g")

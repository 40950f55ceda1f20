"""The claims of P1 checked on depth × heads and tokens grids, declared once for the experiments
``heads`` (forward pass) and ``adamw`` (forward–backward system under AdamW); judged by
:mod:`attnlimits.analysis.claims` on the rows of :func:`attnlimits.p1.rates.claims_tables`."""

from __future__ import annotations

from attnlimits.analysis.claims import Claim, Premise, Statement

RATE = Statement(
    "P1",
    "P1.rate",
    "The hidden states (and, under AdamW, the backpropagated variables) converge in L² to the "
    "limit ODE system at rate O(L⁻¹ + L^(−1/3) H^(−1/2)), uniformly over inputs.",
    "main theorem (abstract): rate in L and H",
)
TOKENS = Statement(
    "P1",
    "P1.tokens",
    "The constants of the rate do not depend on the number of tokens N.",
    "main theorem (abstract): constants independent of N",
)
DIMENSION = Statement(
    "P1",
    "P1.dimension",
    "Under the block-wise adaptation of AdamW the constants do not depend on the dimension d.",
    "main theorem (abstract): constants independent of d, block-wise AdamW",
)

CLAIMS: tuple[Claim, ...] = (
    Claim(
        "bias_L", "bound", "paper", "bias (error of the seed mean, largest H) ≤ C L⁻¹",
        statement=RATE, tolerance="tolerance_bias_L",
    ),
    Claim(
        "fluct_L_bound", "bound", "paper", "fluctuation ≤ C L^(−1/3) H^(−1/2): exponent in L",
        statement=RATE,
    ),
    Claim(
        "fluct_H", "bound", "paper", "fluctuation ≤ C L^(−1/3) H^(−1/2): exponent in H",
        statement=RATE, tolerance="tolerance_fluct_H",
    ),
    Claim(
        "e_inf_N", "bound", "paper", "e_∞ does not grow with N (exponent ≤ 0)",
        statement=TOKENS, tolerance="max_slope_N",
    ),
    Claim(
        "err_N", "bound", "paper", "error does not grow with N (exponent ≤ 0)",
        statement=TOKENS, tolerance="max_slope_N",
    ),
    Claim(
        "bias_L_corrected", "rate", "heuristic",
        "bias ≈ a L⁻¹ (1 + c/L): leading exponent −1 (layer-by-layer central limit argument)",
        where="docs/mathematics.md, heads: the sharper E ≈ a L⁻¹ + b (LH)^(−1/2)",
        tolerance="tolerance_bias_L",
    ),
    Claim(
        "fluct_L_clt", "rate", "heuristic",
        "fluctuation ≈ b (LH)^(−1/2): exponent −1/2 in L (central limit argument)",
        where="docs/mathematics.md, heads: the sharper E ≈ a L⁻¹ + b (LH)^(−1/2)",
    ),
)  # fmt: skip

#: The d-claim of experiment ``adamw`` (block-wise variant only; the standard one is reported).
DIMENSION_CLAIM = Claim(
    "err_d", "bound", "paper", "worst-step error does not grow with d (exponent ≤ 0)",
    statement=DIMENSION, tolerance="max_slope_d",
)  # fmt: skip

#: Where the supremum over inputs is estimated (experiment ``heads``, ``heads.adversarial``).
ON_THE_SPHERE = Premise(
    "inputs X₀ in the compact set (S^{d−1})^N, sphere normalisation; the supremum over it "
    "estimated by gradient ascent with restarts (a lower estimate; rows are unresolved where the "
    "search has not converged)"
)
#: The theorem's bound and a heuristic on the worst-case inputs (experiment ``heads``): the
#: constant C = E_adv / (L⁻¹ + L^(−1/3) H^(−1/2)) and the ratio E_adv / E_random, each fitted
#: as a joint power law in (L, H) (``heads.adversarial_tables``).
UNIFORM_CLAIMS: tuple[Claim, ...] = (
    Claim(
        "adv_bound_L", "bound", "paper",
        "sup over inputs of the error ≤ C (L⁻¹ + L^(−1/3) H^(−1/2)): C does not grow with L",
        premise=ON_THE_SPHERE, statement=RATE,
    ),
    Claim(
        "adv_bound_H", "bound", "paper",
        "sup over inputs of the error ≤ C (L⁻¹ + L^(−1/3) H^(−1/2)): C does not grow with H",
        premise=ON_THE_SPHERE, statement=RATE,
    ),
    Claim(
        "adv_ratio_L", "rate", "heuristic",
        "the worst input's error decays like the test inputs': ratio exponent 0 in L",
        premise=ON_THE_SPHERE, where="docs/mathematics.md, heads: constants uniform over inputs",
        tolerance="adversarial_ratio_tolerance",
    ),
    Claim(
        "adv_ratio_H", "rate", "heuristic",
        "the worst input's error decays like the test inputs': ratio exponent 0 in H",
        premise=ON_THE_SPHERE, where="docs/mathematics.md, heads: constants uniform over inputs",
        tolerance="adversarial_ratio_tolerance",
    ),
)  # fmt: skip

"""Captions of the report items of this experiment: one text per table and figure, filled into
the family templates ``workflow/report/table.rst`` and ``figure.rst``."""

from attnlimits.analysis.claims import caption as claims_caption

TABLES: dict[str, str] = {
    "cells": (
        "One row per simulated cell: the worst-step and last-step errors of X, P and θ with "
        "bootstrap intervals and the limit's own errors (the data of the ε figure)."
    ),
    "claims": claims_caption(
        "P1's claims for the trained model, per tracked variable (``variable``: x the states, p "
        "the backpropagated variables) and step selection (``selection``: worst step k ≤ K, or "
        "after the last step), and the block-wise d-claim."
    ),
    "dims": (
        "The studies' d-slopes: along every line of study cells that differ only in d, per "
        "learning-rate scaling (fixed η, or η(d) = η (d/d₀)^(−1/2) with d₀ the study's d0) and "
        "AdamW variant, the exponent s of err ∝ d^s of X, P and θ (worst step, pooled over task "
        "seeds and head seeds) with its interval from a hierarchical bootstrap (task seeds "
        "resampled, then head seeds within each drawn task: ``ci_low``/``ci_high``) and, for "
        "comparison, from head seeds alone (``ci_heads_low``/``ci_heads_high``); where the "
        "interval lies with respect to 0 (``vs_zero``) and the status of its claim (``err_d`` "
        "for X and P, P1's statement under block-wise AdamW, outside its premise for the "
        "standard variant; ``theta_d`` for θ, derived: grows with d)."
    ),
    "eps": (
        "Along every line of cells that differ only in Adam's ε: the worst-step error of X, P, θ, "
        "the implied constant of the predicted rate and its ratio to the largest ε's, the local "
        "slope in ε, and whether the limit is accurate enough (error ≥ ``solver_margin`` × its "
        "own error by halving)."
    ),
    "peak_steps": (
        "Per study cell and variable (x: states, p: backpropagated variables, theta: "
        "parameters): the training step k* at which the error (pooled over task and head "
        "seeds) is largest, the error before training (k = 0) and at k*, their ratio, and the "
        "share of bootstrap replicates whose worst step is after training started (k* > 0). "
        "Where k* > 0 for P, the worst-step claims of P are about the trained model, not the "
        "first pass."
    ),
    "study_cells": (
        "One row per study cell (study, learning-rate scaling, variant, ε, N, d, β, L, H; η(d) in "
        "``lr``), pooled over its task seeds: the worst-step and last-step errors of X, P and θ "
        "with intervals over task and head seeds (hierarchical bootstrap) and over head seeds "
        "alone (``_heads_``), and the limit's own errors (the largest over the task seeds)."
    ),
    "study_steps": (
        "One row per study cell and training step k: the error of X, P and θ after step k, "
        "pooled over task and head seeds, with its hierarchical bootstrap interval."
    ),
    "study_tasks": (
        "One row per study cell and task seed: the worst-step error of X, P and θ of that task "
        "draw alone (mean over its head seeds): the spread between task draws."
    ),
    "lines": ("The fitted lines of the figures along their swept parameter, with bootstrap bands."),
    "local_slopes": (
        "Slopes between neighbouring grid points of each quantity along its swept parameter, with "
        "bootstrap intervals."
    ),
    "points": (
        "The data of every grid cell per variable and step selection, each statistic with its "
        "bootstrap interval, the limit's own error and the exclusion marks."
    ),
    "slopes": (
        "Every power-law fit behind the claims and the figures (per variable and step selection), "
        "slope and intercept with bootstrap intervals and the points used and excluded."
    ),
    "steps": (
        "One row per cell and training step k: error, bias and fluctuation of X and P and the "
        "parameter error after step k, with intervals, and the mean loss of the discrete model "
        "and the loss of the limit (the error-vs-k and training-curve figures)."
    ),
    "two_term": (
        "The two-term laws a L^(−p) + b L^(−q) H^(−r) per variable and step selection, in several "
        "forms, with bootstrap intervals, RMS of log residuals, AIC and whether the form is "
        "supported."
    ),
}

FIGURES: dict[str, str] = {
    "bias_fluct": (
        "The two terms of the error, separately. Bias (error of the seed mean, corrected for its "
        "noise floor) against L at the largest H, predicted L⁻¹; seed-to-seed fluctuation against "
        "L and H (joint fit), predicted H^(−1/2) and at least L^(−1/3). For X and P, worst and "
        "last step, both AdamW variants; the statuses are in ``tables/claims.md``."
    ),
    "depth_heads": (
        "Error E of the trained transformer against its forward–backward limit, E = (mean over "
        "seeds of max over inputs of e₂²)^½, against the depth L (one line per H) and the number "
        "of heads H (one line per L), for the states X and the backpropagated variables P, at the "
        "worst training step (max over k ≤ K, the theorem's quantity) and after the last step K, "
        "for standard and block-wise AdamW. Markers: data with bootstrap 95% intervals over seeds "
        "(hollow: left out of the fits, within ``solver_margin`` of the limit's own error); lines "
        "and bands: power-law fits. The theorem bounds E by C (L⁻¹ + L^(−1/3) H^(−1/2)); guides "
        "of slope −1, −1/3 (L) and −1/2 (H)."
    ),
    "dims": (
        "The studies' worst-step error against the dimension d, one column per learning-rate "
        "scaling (fixed η; η(d) = η (d/d₀)^(−1/2)), rows X, P and θ, standard and block-wise "
        "AdamW in the same panel: markers the error pooled over task seeds and head seeds with "
        "95% intervals of a hierarchical bootstrap (task seeds, then head seeds within each); "
        "thin lines each task seed alone; dashed the limit's own error by halving (hollow: "
        "within ``solver_margin`` of it, left out of the fit). Legend: the "
        "fitted exponent s of err ∝ d^s with its interval and the status of its claim (``err_d``: "
        "P1's d-independence under block-wise AdamW, a growth of at most ``max_slope_d``; "
        "``theta_d``: θ's error grows with d)."
    ),
    "eps": (
        "Worst-step error against Adam's ε at fixed (N, d, L, H), both variants, for X, P and θ "
        "(table ``tables/eps.md`` gives the implied constants). Hollow markers: the limit is not "
        "accurate enough there (error below ``solver_margin`` times its own error by halving, "
        "dashed): as ε → 0 the standard update tends to sign(g) entry by entry and the limit's "
        "parameter paths stop being Lipschitz in t."
    ),
    "local_slopes": (
        "Slopes of log E between neighbouring grid points (worst step), against L per H and "
        "against H per L, with bootstrap 95% intervals: where the asymptotic regime starts."
    ),
    "steps": (
        "Error after each training step k = 0..K (k = 0: before training) of the states X, the "
        "backpropagated variables P and the parameters θ (root mean square over heads of \\|θ_ℓh − "
        "θ_r(t_ℓ)\\|, Frobenius over Q, K, V; zero at k = 0), at the largest H (one line per L) "
        "and at the largest L (one line per H), with bootstrap 95% bands; last column: the "
        "training loss J of the discrete models (mean over seeds) and of the limit (dashed)."
    ),
    "study_steps": (
        "The studies with several depths: error of X, P and θ after each training step k "
        "(pooled over task and head seeds, bootstrap bands) at the study's largest H, one line "
        "per L; circled, the worst step k* of each line (table ``tables/peak_steps.md``). In the "
        "overshoot study (a teacher of the student's own law, so the loss starts small, and a "
        "large η) the first steps overshoot, the residual and with it P grow, and P's worst "
        "error is reached after training started."
    ),
    "tokens": (
        "Worst-token error e_∞ and RMS error E against the number of tokens N at fixed (L, H), "
        "with power-law fits. The theorem's constants do not depend on N: the claim is that the "
        "upper end of the slope's interval is at most ``max_slope_N``."
    ),
}

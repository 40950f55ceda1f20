"""Captions of the report items of this experiment: one text per table and figure, filled into
the family templates ``workflow/report/table.rst`` and ``figure.rst``."""

from attnlimits.analysis.claims import caption as claims_caption

TABLES: dict[str, str] = {
    "adversarial": (
        "The worst-case-input search per cell (``heads.adversarial``): ``err_adv``, the largest "
        "L² error over the heads, (mean over seeds of e₂²)^½, over every input the ascent "
        "reached; ``err_random``, the same over the test inputs only; ``err_random_cell``, "
        "docs/mathematics.md's cell error at the test inputs; their ``ratio``; ``const_adv`` and "
        "``const_random``, the errors over the bound's rate L⁻¹ + L^(−1/3) H^(−1/2); each with "
        "its bootstrap interval over seeds. Convergence: ``err_half`` (half the restarts, half "
        "the steps), ``gain`` = err_adv/err_half − 1 (``gain_steps``: all steps, half the "
        "restarts; ``gain_restarts``: all restarts, half the steps), ``converged`` when the gain "
        "is at most ``tolerance``; the limit solve's own error."
    ),
    "adversarial_exponents": (
        "The exponents in L (per H) and in H (per L) of the adversarial error, of the random-input "
        "error and of their ratio, side by side, each with its bootstrap interval over seeds."
    ),
    "adversarial_lines": (
        "The fitted lines of the worst-case-input search (``x``, ``y``) with their bootstrap band."
    ),
    "adversarial_slopes": (
        "Every power-law fit of the worst-case-input search: ``err_adv``, ``err_random`` and "
        "``ratio`` vs L per H and vs H per L, and the joint fits in (L, H) of the constants "
        "``const_adv``, ``const_random`` and of the ratio behind the claims ``adv_*``."
    ),
    "claims": claims_caption(
        "one per claim and grid (depth × heads, or tokens) of ``p1.claims``; the claims ``adv_*`` "
        "on the worst-case inputs of the search (``heads.adversarial``)."
    ),
    "lines": (
        "The fitted lines of the figures, each evaluated along its swept parameter (``x``, ``y``) "
        "with its bootstrap band [``y_low``, ``y_high``]."
    ),
    "local_slopes": (
        "Slopes between neighbouring grid points (``x_low``, ``x_high``) of each quantity along "
        "its swept parameter, with bootstrap intervals: where along the grid the asymptotic rate "
        "sets in."
    ),
    "points": (
        "The data of every grid cell: error, error at the last time, bias (raw and corrected), "
        "noise floor and fluctuation, each with its bootstrap interval, the limit's own error, "
        "and whether the cell was excluded (error within ``solver_margin`` of the limit's error, "
        "or bias below its signal-to-noise threshold)."
    ),
    "slopes": (
        "Every power-law fit behind the claims and the figures, one row per fit: error vs L per "
        "H, error vs H per L, bias vs L at the largest H, the joint fluctuation fit, e_∞ and err "
        "vs N. ``slope`` and ``intercept`` (log-log) with bootstrap intervals, the points used "
        "and excluded."
    ),
    "solver": (
        "Accuracy of the limit (per mask, normalisation, N, d, β): the limit's own error (halving "
        "its step), the smallest cell error measured against it, their ratio and whether it "
        "reaches the required margin (``solver_margin``; docs/mathematics.md asks for at least "
        "10×)."
    ),
    "two_term": (
        "The two-term laws a L^(−p) + b L^(−q) H^(−r) fitted to the error of each depth × heads "
        "grid, in several forms (``form``: the theorem's bound, the CLT exponents, free "
        "exponents; ``free`` names the exponents that were fitted), each parameter with its "
        "bootstrap interval, the RMS of the log residuals, the AIC and its difference to the best "
        "form, and whether the form is supported."
    ),
}

FIGURES: dict[str, str] = {
    "adversarial": (
        "Worst-case inputs, per mask. Left: the adversarial error (circles: the largest L² error "
        "over the heads found by gradient ascent over inputs on the sphere) and the random-input "
        "error (squares: the largest over the test inputs) against L, one colour per H, with "
        "power-law fits and bootstrap bands. Middle: their ratio. Right: the convergence check, "
        "the relative gain of the whole search over the one with half the restarts and half the "
        "steps, against the tolerance (dashed)."
    ),
    "bias_fluct_vs_L": (
        "The two parts of the error against L. Bias: error of the seed mean at the largest H, "
        "corrected for its noise floor (fluctuation/√R); predicted slope −1. Fluctuation: "
        "seed-to-seed spread; slope −1/2 under the central-limit heuristic, at least −1/3 by the "
        "theorem. Guide lines show the reference slopes."
    ),
    "e_inf_vs_N": (
        "The uniform error e_∞ (max over layers and tokens) against the number of tokens N at "
        "fixed (L, H). The theorem's constant does not depend on N: the fitted slope's interval "
        "must not exceed +0.1."
    ),
    "err_vs_H": (
        "Cell error E against the number of heads H, one line per depth L. At small H the "
        "fluctuation term, predicted to scale like (L H)^(−1/2), dominates; at large H the error "
        "flattens onto the bias, which scales like L⁻¹."
    ),
    "err_vs_L": (
        "Cell error E = (mean over seeds of max over inputs of e₂²)^½ against the depth L, one "
        "line per number of heads H, for each mask. Markers are the data with bootstrap 95% "
        "intervals over seeds; lines and bands are weighted least-squares power-law fits and "
        "their bootstrap 95% bands. The theorem bounds E by C (L⁻¹ + L^(−1/3) H^(−1/2))."
    ),
    "local_slopes": (
        "Local slopes d log E / d log x between neighbouring grid points, against the larger grid "
        "value, with the predicted exponents as horizontal lines: where they settle shows where "
        "the asymptotic regime starts."
    ),
    "trajectories": (
        "Token trajectories of one input and one seed, discrete transformer (markers, one per "
        "layer) against the limit ODE (solid lines), in the first coordinates. The cell shown is "
        "set in the config under ``plots.trajectories``."
    ),
}

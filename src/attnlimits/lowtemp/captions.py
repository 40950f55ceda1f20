"""Captions of the report items of this experiment: one text per table and figure, filled into
the family templates ``workflow/report/table.rst`` and ``figure.rst``."""

from attnlimits.analysis.claims import caption as claims_caption

TABLES: dict[str, str] = {
    "best_times": (
        "Per head, variant and β: the time t* at which W2 to T#μ₀ is smallest (refined by a "
        "parabola through the grid minimum), the grid time, the minimum and whether it lies at "
        "the horizon (then only a lower bound, left out of the fit of t* against log β)."
    ),
    "claims": claims_caption(
        "slopes of W2 in log β and in log s(β) per time (under ``regime.premise: converged`` "
        "fitted only over the β's whose local slopes converged in N, else unresolved), t*(β) "
        "against log β, the terminal law (W2 to T#μ₀, its rate in t, its slope in N), the "
        "long-time phase rate, whether the power rule N ≥ factor β^(k/2) admits only converged "
        "β's (``regime_rule``) and the growth of the metastable window in log β."
    ),
    "metastability": (
        "Per head of ``fits.metastable_heads``, variant, size of ``lowtemp.metastable.sizes``, "
        "threshold fraction (``fits.metastable_fraction``, then "
        "``fits.metastable_check_fraction``) and β, from the long-horizon window runs: the "
        "window [t_in, t_out] in which W2(μ^β_t, T#μ₀) stays below the threshold (fraction "
        "times W2(μ₀, T#μ₀)), both ends interpolated linearly in log W2 between record times; "
        "whether it was entered and closed before the horizon (open: t_out is the horizon, the "
        "length a lower bound), the smallest and the last W2, and ``n_change``, the largest "
        "relative change of the ends from the next smaller N (``n_converged``: at most "
        "``fits.metastable_n_tol``)."
    ),
    "metastable_fits": (
        "Per head, variant, size (all but the smallest) and threshold fraction: line fits "
        "against log β, over the closed windows converged in N (``betas``), of the window's "
        "length, of t_out and of log t_out, with t-intervals at ``fits.level``. The claims read "
        "the largest size at ``fits.metastable_fraction``."
    ),
    "n_fits": (
        "The N sweep: per variant, head, time, particle family and N, the slope of log "
        "W2(μ^β_t, μ^∞_t) in log β over every β, with its t-interval (the slope of the main "
        "claims, recomputed per family and N)."
    ),
    "n_slopes": (
        "The N sweep: per variant, head, time, particle family and N, the local slope of log "
        "W2(μ^β_t, μ^∞_t) in log β between neighbouring β's (W2 exact, or the identity-coupling "
        "bound for every N where one N exceeds ``exact_max``)."
    ),
    "regime": (
        "The regime boundary per variant, head, time and pair of neighbouring β's: N*, the "
        "smallest N of the sweep (below its largest) from which the local slope varies by at most "
        "``fits.n_slope_tol`` over every family and every larger N (empty: not converged up to "
        "the largest N), the spread and the mean slope at the largest N, whether the pair is "
        "converged at the main run's N, and the N the power rule factor β^(k/2) asks for."
    ),
    "phase": (
        "Per head, variant and β (β = inf: the hardmax flow): the fitted long-time rate of the "
        "mass off V's top eigendirection against the derived rate (−2 λ₂), V's eigenvalues, the "
        "interval and the moment at the start and the end."
    ),
    "phase_curves": ("The off-axis moment over time per β (the long-time phase figure)."),
    "slopes": (
        "Per head, variant and record time t > 0: the slope of log W2(μ^β_t, μ^∞_t) in log β "
        "(predicted −1/2) and in log s(β) (predicted 1) over every β, with intervals, and the "
        "status the claims engine gives each as a ``beta_slope`` or ``beta_shape`` row under "
        "the power rule N ≥ factor β^(k/2) (the claims table has the rows revised by the N sweep)."
    ),
    "terminal": (
        "Per head, variant and size: W2(μ^∞_t, T#μ₀) of the hardmax flow at the start and at the "
        "horizon, and its fitted rate in t with its interval."
    ),
    "terminal_curves": (
        "W2 of the hardmax flow to T#μ₀ over time per head, variant and N (the terminal figure)."
    ),
    "w2": (
        "The W2 curves of the figures per (β, t): to the hardmax flow (exact, and the "
        "identity-coupling bound) and to T#μ₀; β = inf rows are the hardmax flow itself."
    ),
}

FIGURES: dict[str, str] = {
    "metastability": (
        "The metastable window, from the long-horizon runs (``lowtemp.metastable``) of the heads "
        "of ``fits.metastable_heads`` at their largest N: for each β (log axis), the times "
        "[t_in, t_out] in which W2(μ^β_t, T#μ₀) stays below the threshold; thick bars at "
        "``fits.metastable_fraction`` times W2(μ₀, T#μ₀) (the claims' threshold), thin bars "
        "shifted right at ``fits.metastable_check_fraction``. Blue: closed before the horizon; "
        "orange dashed with a triangle: still open at the horizon (the length a lower bound); "
        "grey: the ends change by more than ``fits.metastable_n_tol`` from the next smaller N "
        "(left out of the fits); crosses: never below the threshold. The legend gives the "
        "claims: ``metastable_window`` (slope of the length in log β, > 0 derived from P3's two "
        "bounds), ``metastable_open`` (plain: in z the inverse temperature β e^(2t) grows, the "
        "flow freezes and the window never closes) and ``metastable_exit`` (consensus: slope of "
        "log t_out in log β, 1 derived from the contracting ring d(r²)/dt ≈ −1/β). Panels: "
        "variant and head."
    ),
    "n_convergence": (
        "The N sweep: the local slope of log W2(μ^β_t, μ^∞_t) in log β between neighbouring β's, "
        "drawn at the pair's geometric mean, one line per particle family (solid: the polar "
        "Gauss grid; dashed: Halton points, equal weights; dotted: i.i.d. points) and N (light to "
        "dark as N grows); rows: variant and head, columns: the times of ``fits.times``. Dotted "
        "grey: −1/2, the slope read off P3's bound. Where the lines of both families and the "
        "largest N's coincide, the slope has converged in N (table ``regime``); where they fan "
        "out, the slope of one particle set is a finite-N effect of that set."
    ),
    "regime": (
        "The regime boundary read off the data: N*, the smallest N of the sweep from which the "
        "local β-slope stops depending on N and on the particle family (within "
        "``fits.n_slope_tol``), against the pair's larger β, log-log; one colour per variant and "
        "head, one marker per time. Hollow triangles: not converged up to the largest N of the "
        "sweep (drawn at it). Dashed: docs/mathematics.md's first guess N = factor β^(k/2) (the "
        "power rule); dotted: the main run's N. A β-slope claim is fitted only over the β's "
        "converged at the main run's N (``regime.premise: converged``)."
    ),
    "particles": (
        "The particles (weighted quadrature points of μ₀, marker area proportional to the weight) "
        "at four record times (t = 0, two intermediate times, the horizon), in the variable each "
        "variant is measured in (z = e^(−tV) x for the plain flow, x for the consensus flow): the "
        "flow at the smallest β and at the largest β (filled, light and dark), the hardmax flow "
        "(black rings) and the push-forward T#μ₀ (grey crosses). Rows: the runs of the identity "
        "head and of one other head, both variants. As β grows the β flow follows the hardmax "
        "flow longer; where T#μ₀ is the hardmax flow's terminal law (identity head) the black "
        "rings land on the crosses, every particle on its leader. Each row shares one box, so a "
        "flow that grows (e.g. the consensus flow of a head whose V has an eigenvalue above 1) "
        "fills the panels at late times."
    ),
    "phase": (
        "The long-time phase. The mass left off V's top eigendirection, Σᵢ wᵢ \\|c_⊥,i\\|² with c "
        "the particles' coordinates in V's eigenbasis, against t (log scale), one line per β "
        "(light to dark) and the hardmax flow in black; rows: variants, columns: heads (a head "
        "whose V has no real eigenbasis has no such moment). The legend gives each flow's fitted "
        "rate of log moment in t over ``fits.phase_window`` (table ``phase``), drawn dotted "
        "through the last point over the second half of the time range. Dashed: the rate derived "
        "for the plain flow, −2λ₂ with λ₂ V's second eigenvalue (0 without a spectral gap, e.g. V "
        "= I), through the hardmax flow's last point; the consensus flow has no derived rate. "
        "Claim ``phase`` is consistent when a fitted rate is within ``fits.phase_rate_tol`` of "
        "the derived one."
    ),
    "t_star": (
        "T*(β), the time at which W2(μ^β_t, T#μ₀) is smallest (table ``best_times``), against β on "
        "a log axis, one panel per variant, one colour per head. Filled: t* inside the horizon; "
        "hollow: t* at the horizon (dotted line), a lower bound only, left out of the fit. Lines: "
        "t* = a + b log β fitted on the inside points; the legend gives the slope b with its "
        "t-interval and the status of claim ``t_star`` (``tables/claims.md``). docs/mathematics.md "
        "predicts that t* grows like log β (b > 0); the claim has no prediction (undetermined) "
        "where the hardmax flow does not approach T#μ₀, since t* then tracks the hardmax flow's "
        "own closest approach."
    ),
    "terminal": (
        "Distance W2(μ^∞_t, T#μ₀) of the hardmax flow to the push-forward T#μ₀ against t (log "
        "scale), one line per number of particles N; rows: variants, columns: heads of "
        "``lowtemp.terminal``. Dashed: the rate of log W2 in t fitted at the largest N over "
        "``fits.terminal_window`` (table ``terminal``), drawn through the last point; the legend "
        "gives it with its t-interval. docs/mathematics.md: W2(μ^∞_t, T#μ₀) ≲ e^(−ct) when T#μ₀ is "
        "the terminal law of the hardmax flow (a straight decaying line; for Q = K = V = I the "
        "rate is −1), and the distance must not grow with N. A line that flattens or rises means "
        "the projection map does not give the terminal law for that head and variant (claims "
        "``terminal_law``, ``terminal_time``, ``terminal_N``)."
    ),
    "w2_beta": (
        "Distance W2(μ^β_t, μ^∞_t) between the flow at inverse temperature β and the hardmax flow "
        "(β = ∞) against β, log-log, at the record times of the claims (``fits.times``), one "
        "colour per t; rows: variants (plain flow, measured in z = e^(−tV) x; consensus flow, in "
        "x), columns: heads. W2 is exact where N ≤ ``exact_max``, else its identity-coupling "
        "upper bound (the y label says which). Lines: the least-squares fits of log W2 in log β "
        "(table ``slopes``), slope and t-interval in the legend. docs/mathematics.md predicts W2 ≲ "
        "sqrt(log(β+1)/β) e^(Ct), i.e. slope −1/2 up to the log: dashed, a guide of slope −1/2; "
        "dotted, the shape sqrt(log(β+1)/β) scaled to the same starting point. Data falling at "
        "least as fast as the guides are consistent with the bound (a steeper slope, near −1, is "
        "not sharp); the statuses are in ``tables/claims.md`` (claims ``beta_slope`` and "
        "``beta_shape``)."
    ),
    "w2_time": (
        "Distance W2(μ^β_t, T#μ₀) of the flow at inverse temperature β to the push-forward T#μ₀ of "
        "the initial law under the variant's projection map, against t (log scale), one line per β "
        "(light to dark as β grows) and the hardmax flow in black; rows: variants, columns: heads. "
        "Markers: t*(β), the time of the smallest distance over the record grid refined by a "
        "parabola (table ``best_times``), drawn at the grid minimum's height; hollow where the "
        "minimum is at the horizon (t* not reached, only a lower bound). Prediction "
        "(docs/mathematics.md): the β flow first follows the hardmax flow towards T#μ₀ (error ≲ "
        "e^(−ct)) and then drifts away (error ≲ sqrt(log(β+1)/β) e^(Ct)), so the minimum moves to "
        "later times as β grows, like log β. Where the hardmax flow itself does not approach T#μ₀ "
        "(the black line does not decay), T#μ₀ is not its terminal law and t* says nothing about β."
    ),
}

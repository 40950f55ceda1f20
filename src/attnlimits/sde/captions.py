"""Captions of the report items of this experiment: one text per table and figure, filled into
the family templates ``workflow/report/table.rst`` and ``figure.rst``."""

from attnlimits.analysis.claims import caption as claims_caption

TABLES: dict[str, str] = {
    "chaos_reference": (
        "Per chaos store and N: the mean sup W2² to the reference and to the halved reference, "
        "their difference (the reference's own error), the mean floor, the rule that decides the "
        "exclusion, the ratio to it, the margin and whether the N was left out of the fit."
    ),
    "chaos_truncation": (
        "Error of the random-feature kernel κ_P used by the chaos runs against the exact kernel "
        "(RMS and maximum, absolute and relative to κ(1))."
    ),
    "claims": claims_caption(
        "one per claim and row (activation, d, σ, attention sign); for ``cluster`` the "
        "observation (``observed``) against the prediction (``expected``)."
    ),
    "exponents": (
        "The kernel table over activation × d × σ: κ(1), κ′(1), the top Lyapunov exponent λ₁ and "
        "the coercivity exponent λ̄, whether the field is odd and whether synchronization is "
        "predicted, closed forms where known, and Monte Carlo checks of κ with their standard "
        "errors."
    ),
    "joint_laws": (
        "The laws of the joint (L, m) and (L, N) grids, per store (row, attention sign, grid) and "
        "quantity (``mse_layers``: sup over layer times; ``mse_path``: sup over the interpolated "
        "path): theorem θ₁ log L/L + θ₂ g, nolog θ₁/L + θ₂ g, log (θ₀ + θ₁ log L)/L + θ₂ g, "
        "cross the log law + θ₃ g/L, with g = 1/m or 1/N; the coefficients of 1/L (``inv_L``), "
        "log L/L (``log_L``), g and g/L (``g_inv_L``) with bootstrap intervals, the weighted "
        "residual sum of squares, AIC and its difference to the lowest, the RMS log residual."
    ),
    "joint_points": (
        "Every point of the joint grids: the mean-square error E(L, m or N) with its bootstrap "
        "interval over seeds, whether it was left out (within the margin of the reference's "
        "error), and the value of each fitted law there (m = inf: infinite width)."
    ),
    "lines": (
        "The fitted lines of the figures along their swept parameter (``x``, ``y``) with "
        "bootstrap bands [``y_low``, ``y_high``]."
    ),
    "odd_clusters": (
        "Odd-field runs: per row and time, the mean over paths of the fraction of tokens in two "
        "antipodal clusters (within the angle ``cluster_angle`` of ±p, tokens on both sides) and "
        "in one cluster, and the mean interaction energy, with bootstrap intervals over paths."
    ),
    "points": (
        "Every plotted point with its bootstrap interval and whether it was left out of its fit; "
        "local slopes between neighbouring points appear as quantity ``<quantity>_local_slope``."
    ),
    "reference": (
        "The depth reference's own error (and with orthogonal noise) against the smallest RMS "
        "error of the depth runs, their ratio and whether it reaches the required margin."
    ),
}

FIGURES: dict[str, str] = {
    "chaos_w2": (
        "Propagation of chaos. E sup_t W2²(μ^N_t, μ^{N_ref}_t) between N tokens and a reference "
        "of N_ref tokens driven by the same random-feature noise field, against N, for each "
        "dimension d, with the rates predicted for the ambient dimension k = d and the sphere's "
        "intrinsic dimension k = d − 1, and the reference's own floor (points within 10× of it "
        "are excluded from the fit)."
    ),
    "cosine_histograms": (
        "Histograms of pairwise cosines ⟨xⁱ, xʲ⟩ at a few depths, pooled over paths, for a row "
        "that clusters (mass moves to 1) and a row that does not."
    ),
    "depth_error": (
        "Root-mean-square pathwise error sup over layer times of (1/N) Σᵢ \\|X_ℓⁱ − X̄ⁱ(t_ℓ)\\|², "
        "square-rooted, against the depth L, for each (activation, d, σ) row and attention sign. "
        "The reference X̄ is a discrete model with many more layers driven by the same Brownian "
        "increments (fine increments summed to the layer step), so the error is pathwise. "
        "Predicted: strong order 1/2 (slope −1/2)."
    ),
    "energy": (
        "Mean interaction energy e^{−β} E[E_β(μ_t)] over many noise paths against time, per row, "
        "one line per attention sign. Pure noise: the late-time decay rate is compared with λ̄; "
        "with attention, with the bound's rate λ̄′ = −inf F(u). Caution: the empirical mean of "
        "few paths is dominated by typical paths, which decay at 2λ₁; where 2λ₁ and λ̄ differ, "
        "the two-point estimate (lyapunov figure) is the reliable one."
    ),
    "joint_error": (
        "Joint limits. The mean-square error E(L, m) of the L-layer, width-m model (and E(L, N) of "
        "the N-token model at infinite width) against one infinite-width reference with many more "
        "layers on the same noise, against L, one colour per m (or N); left: the sup over layer "
        "times, right: the sup over every time of the interpolated path X_⌊t/Δ⌋ (the theorem's "
        "quantity). Solid: the law of lowest AIC; dotted: the theorem's law θ₁ log L / L + θ₂/m. "
        "Hollow points are within the margin of the reference's own error and left out."
    ),
    "lyapunov": (
        "Estimated against predicted exponents. The pathwise Lyapunov exponent (two tokens "
        "started 1e-4 apart and renormalised after every layer) against λ₁, and the second-moment "
        "rate of their distance (which is the decay rate of E[E_β] near collapse) against λ̄, "
        "with 95% intervals over paths."
    ),
    "odd_clusters": (
        "The odd-field case (P2's first figure): d = 4, tanh, σ = 0, no attention, against a "
        "field that is not odd (sigmoid). Left: the mean fraction of tokens in two antipodal "
        "clusters (solid) and in one cluster (dashed) over time, with bootstrap bands over paths. "
        "Middle: pairwise cosines ⟨xⁱ, xʲ⟩ at the last time, pooled over paths: the odd field "
        "puts mass at both −1 and +1, the other field at +1 only. Right: the tokens of one path "
        "of the odd field projected on the clusters' axis p_t (the top eigenvector of "
        "(1/N) Σᵢ xⁱxⁱᵀ, oriented towards the first token), ending at +1 or −1."
    ),
    "sphere_tokens": (
        "Tokens of one noise path on the sphere over depth (first two coordinates), for a row "
        "that clusters and a row that does not."
    ),
    "width_error": (
        "Root-mean-square pathwise error of the finite-width model (MLP width m) against the "
        "infinite-width Gaussian field at fixed depth, both driven by the same standard normals "
        "through the square roots of their covariances at the current tokens. Predicted slope "
        "−1/2 in m."
    ),
}

"""The statements of P2 that experiment ``sde`` checks (its claims cite them: ``claims``,
``joint_claims``, ``odd_claims``)."""

from attnlimits.analysis.claims import Statement

STRONG = Statement(
    "P2",
    "P2.strong",
    "E sup_t (1/N) Σᵢ |Xⁱ_⌊t/Δ⌋ − X̄ⁱ_t|² ≤ c (log L / L + 1/m): root-mean-square strong order 1/2 "
    "in the depth L and in the width m.",
    "pathwise convergence to the common-noise SDE (depth and width)",
)
CHAOS = Statement(
    "P2",
    "P2.chaos",
    "E sup_t W2²(μᴺ_t, μ_t) ≤ c r(N), r = N^(−1/2), N^(−1/2) log(1+N), N^(−2/k) for k < 4, "
    "= 4, > 4, with k = d.",
    "propagation of chaos",
)
SYNC = Statement(
    "P2",
    "P2.sync",
    "If λ̄ < 0 and the noise field is not odd, E[E_β(μ_t)] ≤ e^((ε+λ̄′)t) E[E_β(μ₀)]: the tokens "
    "synchronize (cluster).",
    "synchronization by noise",
)
EXPONENTS = Statement(
    "P2",
    "P2.exponents",
    "Near collapse the decay rate of E[E_β] approaches λ̄ (and the two-point moment rate is λ̄); "
    "the pathwise rate of log|Xⁱ − Xʲ| approaches λ₁.",
    "Lyapunov and coercivity exponents of the pure-noise flow",
)
ODD = Statement(
    "P2",
    "P2.odd",
    "With an odd noise field (σ_U = σ_W = 0, odd φ) and no attention the tokens do not collapse "
    "to one cluster: they synchronize onto a two-point random attractor, two antipodal points "
    "±p_t.",
    "the odd-field case (the paper's first figure)",
)

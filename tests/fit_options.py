"""The rate-fit options (config blocks ``heads.fits``, ``adamw.fits``) of the claims and plots
tests; each test overrides the bootstrap sizes it can afford."""

FIT_OPTIONS = {
    "bootstrap": 100,
    "bootstrap_seed": 3,
    "level": 0.95,
    "bias_min_snr": 2.0,
    "solver_margin": 10.0,
    "tolerance_bias_L": 0.15,
    "tolerance_fluct_H": 0.1,
    "max_slope_N": 0.1,
    "max_slope_d": 0.1,
    "two_term_bootstrap": 20,
}

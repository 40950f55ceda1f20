"""Experiment ``adamw``: P1 training, the forward–backward system under AdamW (docs/mathematics.md).

Modules: ``task`` (the fixed data set, read-out and teacher targets, the loss J), ``params``
(the trainable θ_{ℓr} of the discrete model and θ_r(t_j) of the limit, and their starting
values), ``model`` (one forward/backward pass serving both: states X_j, backpropagated P_j,
scaled gradients g), ``optimizer`` (AdamW, standard and block-wise) and ``training`` (K
full-batch AdamW steps, recording every step).
"""

"""The model of P1 (Gibson, Reisinger): a multi-head attention-only transformer whose heads are
drawn from a head law, its forward pass, its McKean–Vlasov ODE limit and the errors between
them; and the rate analysis of its depth × heads and tokens grids. Used by the experiments
``heads`` and ``adamw``."""

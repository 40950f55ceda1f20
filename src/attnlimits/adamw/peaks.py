"""The training step at which each study site's error is worst (docs/mathematics.md, ``adamw``).

P1 bounds the error at the worst step k ≤ K. When that step is k = 0 (before any AdamW step),
the worst-step claims say nothing about training: they are the forward–backward pass at the
start. Table ``peak_steps``: per site (``adamw.sites``) and tracked variable, the step k* of the
largest error E(k) (pooled over task and head seeds, replicate 0), E(0), E(k*), their ratio,
and the share of the hierarchical bootstrap replicates whose worst step is after training
started (k* > 0): near 1 when the maximum is reliably reached during training.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from attnlimits.adamw.sites import TRACKED, Site


def worst_steps(step_errors: np.ndarray) -> np.ndarray:
    """argmax over k of E(k) per replicate, for E (K+1, B+1); −1 where a replicate is not
    finite."""
    values = np.asarray(step_errors, dtype=np.float64)
    finite = np.isfinite(values).all(axis=0)
    steps = np.argmax(np.where(np.isfinite(values), values, -np.inf), axis=0)
    return np.where(finite, steps, -1)


def peaks_table(all_sites: Sequence[Site]) -> pd.DataFrame:
    """The ``peak_steps`` table of the module docstring."""
    rows = []
    for site in all_sites:
        for var in TRACKED:
            values = site.stats[var]["step"]  # (K+1, B+1)
            steps = worst_steps(values)
            boot = steps[1:][steps[1:] >= 0]
            k = int(steps[0])
            rows.append(
                {
                    **site.key,
                    "variable": var,
                    "steps": values.shape[0] - 1,
                    "worst_step": k,
                    "err_step0": float(values[0, 0]),
                    "err_worst": float(values[k, 0]),
                    "ratio_to_step0": float(values[k, 0] / values[0, 0])
                    if values[0, 0] > 0
                    else np.nan,
                    "share_after_start": float((boot > 0).mean()) if boot.size else np.nan,
                }
            )
    return pd.DataFrame(rows)

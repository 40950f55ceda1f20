"""A tiny limit spec of experiment adamw (the keys of ``adamw.grid.limit_spec``), for fast tests."""

from __future__ import annotations

TINY_SPEC = {
    "variant": "blockwise",
    "eps": 1e-8,
    "N": 6,
    "d": 3,
    "beta": 1.0,
    "T": 1.0,
    "mask": "encoder",
    "normalisation": "sphere",
    "law": {"atoms": 3, "v_bar": 1.0, "sigma_v": 1.0, "seed": 1},
    "task": {
        "inputs": 2,
        "d_out": 2,
        "teacher_atoms": 3,
        "teacher_v_bar": -1.0,
        "teacher_sigma_v": 1.0,
        "teacher_steps": 32,
        "seed": 5,
    },
    "optimizer": {"lr": 0.05, "beta1": 0.9, "beta2": 0.999, "weight_decay": 0.01, "steps": 2},
    "limit": {"steps": 64, "records": 8},
}

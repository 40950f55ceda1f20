"""Small fixtures of experiment adamw for fast tests: a tiny limit spec (the keys of
``adamw.grid.limit_spec``) and a small task with its atoms for the numerical core."""

from __future__ import annotations

from attnlimits.adamw.task import Task, draw_task
from attnlimits.p1.dynamics import Dynamics
from attnlimits.p1.law import draw_atoms

# the numerical core's setting: d, atoms M, horizon T, beta, and the atoms
D, M, T, BETA = 3, 3, 1.0, 1.5
ATOMS = draw_atoms(M, D, 1.0, 1.0, seed=11)


def make_task(
    mask: str, normalisation: str, inputs: int = 2, tokens: int = 5, seed: int = 3
) -> Task:
    """A small task in dimension D (teacher: 4 atoms of the student's law, 16 RK4 steps)."""
    return draw_task(
        inputs=inputs,
        tokens=tokens,
        d=D,
        d_out=2,
        dynamics=Dynamics(T, BETA, mask, normalisation),
        teacher_atoms=4,
        v_bar=1.0,
        sigma_v=1.0,
        teacher_steps=16,
        seed=seed,
    )


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

"""The head of a low-temperature run (P3: QᵀK positive definite), from its spec.

A module of its own and light: the configuration check of random heads draws them while the
workflow parses, in numpy (:func:`head_matrices`); torch is imported only by :func:`make_head`,
inside the job.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from attnlimits.seeding import generator

if TYPE_CHECKING:
    from attnlimits.head import Head


def head_matrices(head: Mapping[str, Any], d: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(Q, K, V) of a spec, float64; raises if QᵀK is not positive definite.

    ``identity``: Q = K = V = I. ``random``: Q = I + s A, K = I + s B, V = I + s C with Gaussian
    A, B, C from the stream ``(seed, "lowtemp-head", d)``, s = ``scale``. ``diagonal``: Q = K = I
    and V = diag(``v``), to shape the long-time phase by V's spectrum.
    """
    eye = np.eye(d, dtype=np.float64)
    kind = head["kind"]
    if kind == "identity":
        q, k, v = eye, eye.copy(), eye.copy()
    elif kind == "random":
        a = generator(head["seed"], "lowtemp-head", d).standard_normal(size=(3, d, d))
        s = float(head["scale"])
        q, k, v = eye + s * a[0], eye + s * a[1], eye + s * a[2]
    elif kind == "diagonal":
        if len(head["v"]) != d:
            raise ValueError(f"head.v has {len(head['v'])} entries, the measure lives in d = {d}")
        q, k, v = eye, eye.copy(), np.diag(np.asarray(head["v"], dtype=np.float64))
    else:
        raise ValueError(f"unknown head kind {kind!r}: expected 'identity', 'random' or 'diagonal'")
    qk = q.T @ k
    if np.linalg.eigvalsh(0.5 * (qk + qk.T)).min() <= 0:
        raise ValueError("QᵀK is not positive definite: lower head.scale or change head.seed")
    return q, k, v


def make_head(head: Mapping[str, Any], d: int) -> Head:
    """The head of a spec (:func:`head_matrices`) as torch tensors."""
    import torch

    from attnlimits.head import Head

    return Head(*(torch.from_numpy(m) for m in head_matrices(head, d)))

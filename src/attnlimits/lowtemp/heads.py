"""The head of a low-temperature run (P3: QᵀK positive definite), from its spec.

A module of its own, light (torch, no transport or xarray), because the configuration check
of random heads draws them while the workflow parses.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from attnlimits.head import Head
from attnlimits.seeding import normal


def make_head(head: Mapping[str, Any], d: int) -> Head:
    """The head of a spec; raises if QᵀK is not positive definite.

    ``identity``: Q = K = V = I. ``random``: Q = I + s A, K = I + s B, V = I + s C with Gaussian
    A, B, C from the stream ``(seed, "lowtemp-head", d)``, s = ``scale``. ``diagonal``: Q = K = I
    and V = diag(``v``), to shape the long-time phase by V's spectrum.
    """
    eye = torch.eye(d, dtype=torch.float64)
    kind = head["kind"]
    if kind == "identity":
        out = Head.identity(d)
    elif kind == "random":
        a = normal((3, d, d), head["seed"], "lowtemp-head", d)
        s = float(head["scale"])
        out = Head(eye + s * a[0], eye + s * a[1], eye + s * a[2])
    elif kind == "diagonal":
        if len(head["v"]) != d:
            raise ValueError(f"head.v has {len(head['v'])} entries, the measure lives in d = {d}")
        out = Head(eye, eye.clone(), torch.diag(torch.tensor(head["v"], dtype=torch.float64)))
    else:
        raise ValueError(f"unknown head kind {kind!r}: expected 'identity', 'random' or 'diagonal'")
    sym = 0.5 * (out.qk + out.qk.T)
    if torch.linalg.eigvalsh(sym).min() <= 0:
        raise ValueError("QᵀK is not positive definite: lower head.scale or change head.seed")
    return out

"""Shared driver of the "cost does not grow with H" benchmarks (heads_cost.py, adamw_cost.py)."""

from __future__ import annotations

import argparse
from collections.abc import Callable

import torch

TARGET = 1.5
HEADS = (4, 64, 1024, 4096)


def compare_heads(
    cell_time: Callable[[int, argparse.Namespace], float], args: argparse.Namespace, setting: str
) -> int:
    """Time ``cell_time(H, args)`` for H in ``HEADS`` against H = 4 (after a warm-up), print the
    table and return the exit status: 0 if H = 4096 is within ``TARGET`` x of H = 4, else 1."""
    torch.set_num_threads(args.threads)
    cell_time(HEADS[0], args)  # warm-up
    base = cell_time(HEADS[0], args)
    print(f"{setting}, median of {args.repeats}, {args.threads} thread(s)")
    print(f"{'H':>6} {'seconds':>9} {'vs H=4':>7}")
    ratio = 1.0
    for heads in HEADS:
        t = cell_time(heads, args)
        ratio = t / base
        print(f"{heads:>6} {t:>9.4f} {ratio:>7.2f}")
    ok = ratio <= TARGET
    print(f"H=4096 / H=4 = {ratio:.2f} (target <= {TARGET}): {'met' if ok else 'MISSED'}")
    return 0 if ok else 1

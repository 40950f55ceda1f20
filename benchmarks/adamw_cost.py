"""Benchmark: the cost of training an `adamw` cell does not grow with the number of heads H.

Heads that share an atom in a layer receive equal gradients and stay identical under AdamW, so a
cell trains one parameter group per (layer, atom) whatever H (docs/mathematics.md, `adamw`; module
`attnlimits.adamw.model`). Times K AdamW steps of R seeds at fixed L and M for H from 4 to 4096
(drawing the heads' atoms included) and prints each time relative to H = 4.
Target (issue 4): H = 4096 within 1.5x of H = 4.

    python benchmarks/adamw_cost.py [--repeats 3] [--layers 64] [--steps 8]

Exits with status 1 if the target is missed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

from heads_scaling import compare_heads

from attnlimits.adamw.optimizer import AdamW
from attnlimits.adamw.params import discrete_start
from attnlimits.adamw.task import draw_task
from attnlimits.adamw.training import train
from attnlimits.p1.dynamics import Dynamics
from attnlimits.p1.law import atom_counts, draw_atoms, head_atoms


def cell_time(heads: int, args: argparse.Namespace) -> float:
    atoms = draw_atoms(args.atoms, args.dim, 1.0, 1.0, seed=1)
    dynamics = Dynamics(1.0, 1.0, "encoder", "sphere")
    task = draw_task(args.inputs, args.tokens, args.dim, 2, dynamics, 8, -1.0, 1.0, 64, 5)
    opt = AdamW(lr=0.05, weight_decay=0.01, variant="blockwise")
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        counts = atom_counts(head_atoms(args.seeds, args.layers, heads, args.atoms, 0), args.atoms)
        params, weights = discrete_start(atoms, counts)
        train(task, params, weights, dynamics, opt, args.steps)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--layers", type=int, default=64)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--tokens", type=int, default=16)
    parser.add_argument("--dim", type=int, default=3)
    parser.add_argument("--atoms", type=int, default=8)
    parser.add_argument("--seeds", type=int, default=16)
    parser.add_argument("--inputs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    setting = (
        f"L={args.layers} K={args.steps} M={args.atoms} N={args.tokens} d={args.dim} "
        f"R={args.seeds} S={args.inputs}"
    )
    return compare_heads(cell_time, args, setting)


if __name__ == "__main__":
    sys.exit(main())

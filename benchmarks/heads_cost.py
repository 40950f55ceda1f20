"""Benchmark: the cost of a `heads` cell does not grow with the number of heads H.

Times the whole discrete part of a cell (drawing every head's atom, counting atoms per layer,
simulating R seeds × S inputs) at fixed L and number of atoms M, for H from 4 to 4096, and
prints each time relative to H = 4. Target (issue 2): H = 4096 within 1.5× of H = 4.

    python benchmarks/heads_cost.py [--repeats 5] [--layers 64] [--tokens 32]

Exits with status 1 if the target is missed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

from heads_scaling import compare_heads

from attnlimits.p1.discrete import simulate
from attnlimits.p1.dynamics import Dynamics
from attnlimits.p1.inputs import draw_inputs
from attnlimits.p1.law import atom_counts, draw_atoms, head_atoms


def cell_time(heads: int, args: argparse.Namespace) -> float:
    atoms = draw_atoms(args.atoms, args.dim, 1.0, 1.0, seed=1)
    x0 = draw_inputs(args.inputs, args.tokens, args.dim, "sphere", seed=2)
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        counts = atom_counts(head_atoms(args.seeds, args.layers, heads, args.atoms, 0), args.atoms)
        simulate(x0, atoms, counts, Dynamics(1.0, 1.0, "encoder", "sphere"))
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--layers", type=int, default=64)
    parser.add_argument("--tokens", type=int, default=32)
    parser.add_argument("--dim", type=int, default=3)
    parser.add_argument("--atoms", type=int, default=8)
    parser.add_argument("--seeds", type=int, default=16)
    parser.add_argument("--inputs", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    setting = (
        f"L={args.layers} M={args.atoms} N={args.tokens} d={args.dim} R={args.seeds} "
        f"S={args.inputs}"
    )
    return compare_heads(cell_time, args, setting)


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark: the memory model of experiment `adamw` (``adamw.grid.memory_mb``) against peak RSS.

Runs the limit jobs of chosen (variant, eps, N, d, beta) of a config (default: config/config.yaml)
each in a fresh process, reads the process's peak resident memory, and compares it with the
``mem_mb`` that the Snakemake rules reserve. Target: measured <= predicted <= 1.5 x measured for
every job (a scheduler must not kill the job, and should not reserve far more than it needs).

    python benchmarks/adamw_memory.py [--config config/config.yaml] [--keys N16d3 N64d3 N16d24]

Exits with status 1 if the target is missed.
"""

from __future__ import annotations

import argparse
import json
import sys

from common import peak_rss_mib

from attnlimits.adamw import grid
from attnlimits.config import load_config

TARGET = 1.5
CHILD = """
import json, sys, torch
from attnlimits.adamw.runs import run_limit
torch.set_num_threads(1)
run_limit(json.loads(sys.argv[1]))
"""


def peak_mb(spec: dict) -> float:
    """Peak RSS (MiB, as before; compared with mem_mb as is) of the limit job of ``spec``."""
    return peak_rss_mib(CHILD, json.dumps(spec))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="config/config.yaml")
    parser.add_argument("--keys", nargs="+", default=["N16d3", "N64d3", "N16d24"])
    args = parser.parse_args()
    adamw = load_config(args.config)["adamw"]
    keys = {f"N{k.N}d{k.d}": k for k in grid.limits(adamw) if k.variant == "blockwise"}
    missing = set(args.keys) - set(keys)
    if missing:
        raise SystemExit(f"no block-wise limit {sorted(missing)} in {args.config}: {sorted(keys)}")
    print(f"{'limit':>8} {'measured MB':>12} {'mem_mb':>8} {'ratio':>6}")
    ok = True
    for name in args.keys:
        spec = grid.limit_spec(adamw, keys[name])
        measured, predicted = peak_mb(spec), grid.memory_mb(spec)
        ratio = predicted / measured
        ok &= 1.0 <= ratio <= TARGET
        print(f"{name:>8} {measured:>12.0f} {predicted:>8d} {ratio:>6.2f}")
    print(f"target: measured <= mem_mb <= {TARGET} x measured: {'met' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

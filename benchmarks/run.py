"""The benchmark table: every benchmark of the issue, measured in one run, as one table.

    python benchmarks/run.py [--quick] [--device cpu|cuda|auto] [--only a,b,c,f] [--json out.json]

Prints the machine, then one markdown table (benchmark, case, ours, reference, ratio, target,
met, note). Ratios are oriented so that larger is better and each is measured in this run (ours
and its reference side by side). Exits with status 1 if any target is missed (or a benchmark
failed), after printing the whole table. ``--quick`` is a smoke run of small sizes: its ratios
are indicative only; publish the numbers of a full run on a quiet machine.

Each entry of ``REGISTRY`` is a module of this folder exposing
``measure(device: torch.device, quick: bool) -> list[common.Row]`` (see common.py).
"""

from __future__ import annotations

import argparse
import importlib
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402
from common import Row, dump_json, failed_row, machine, resolve_device  # noqa: E402

#: (key, module, what): run in this order; ``--only`` takes keys or module names.
REGISTRY: list[tuple[str, str, str]] = [
    ("a", "attention_rate", "attention layer flop rate / dense matmul rate"),
    ("b", "simulation_loop", "discrete heads simulation vs a per-layer, per-head loop"),
    ("c", "solvers", "limit ODE vs torchdiffeq RK4; SDE vs torchsde Euler-Maruyama"),
    ("d", "pipeline", "the default pipeline's wall time, cold and with everything cached"),
    ("e", "dag", "dry-run DAG and heads aggregation at 10^3, 10^4, 10^5 cells, with memory"),
    ("f", "peak_memory", "peak memory of the largest default job vs its reserved mem_mb"),
    ("g", "startup", "imports of each job kind's process, ours vs the previous main"),
]


def fmt(value: float | None, unit: str = "") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if unit == "s":
        for scale, name in ((1.0, "s"), (1e-3, "ms"), (1e-6, "µs")):
            if abs(value) >= scale or name == "µs":
                return f"{value / scale:.3g} {name}"
    text = f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"
    return f"{text} {unit}".strip()


def table(rows: list[Row]) -> str:
    from tabulate import tabulate

    body = [
        [
            r.benchmark,
            r.case,
            fmt(r.ours, r.unit),
            fmt(r.reference, r.unit),
            fmt(r.ratio),
            "—" if r.target is None else f"≥ {r.target:g}",
            {True: "yes", False: "**NO**", None: "—"}[r.met],
            r.note,
        ]
        for r in rows
    ]
    headers = ["benchmark", "case", "ours", "reference", "ratio", "target", "met", "note"]
    return tabulate(body, headers=headers, tablefmt="github", disable_numparse=True)


def select(only: str | None) -> list[tuple[str, str, str]]:
    if not only:
        return REGISTRY
    wanted = {w.strip() for w in only.split(",") if w.strip()}
    known = {k for k, _, _ in REGISTRY} | {m for _, m, _ in REGISTRY}
    unknown = wanted - known
    if unknown:
        raise SystemExit(f"--only: unknown {sorted(unknown)}; known: {sorted(known)}")
    return [e for e in REGISTRY if e[0] in wanted or e[1] in wanted]


def run(entries, device: torch.device, quick: bool, log=print) -> list[Row]:
    rows: list[Row] = []
    for key, name, what in entries:
        log(f"[{key}] {name}: {what} ...", flush=True)
        start = time.perf_counter()
        try:
            module = importlib.import_module(name)
            rows.extend(module.measure(device, quick))
        except ModuleNotFoundError as exc:
            exc.args = (f"{exc}: install the bench extras, pip install -e '.[bench]'",)
            rows.append(failed_row(f"{key}. {name}", exc))
        except Exception as exc:  # noqa: BLE001 - reported as a failed row, the table goes on
            rows.append(failed_row(f"{key}. {name}", exc))
        log(f"[{key}] done in {time.perf_counter() - start:.1f} s", flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, few repeats")
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda or auto")
    parser.add_argument("--only", help="comma-separated keys or module names, e.g. a,b")
    parser.add_argument("--json", help="also write the rows and the machine to this file")
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads (default 1, as the pipeline's jobs)"
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    entries = select(args.only)
    print("machine:")
    for key, value in machine(device).items():
        print(f"  {key}: {value}")
    print(f"mode: {'quick (indicative only)' if args.quick else 'full'}", flush=True)
    rows = run(entries, device, args.quick)
    print()
    print(table(rows))
    if args.json:
        dump_json(args.json, device, rows, args.quick)
    missed = [r for r in rows if r.met is False]
    print()
    if missed:
        which = "; ".join(f"{r.benchmark} {r.case}" for r in missed)
        print(f"{len(missed)} target(s) missed: {which}")
        return 1
    print("all targets met")
    return 0


if __name__ == "__main__":
    sys.exit(main())

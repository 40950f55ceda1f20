"""g. Start-up: what each job kind imports before it computes, ours against the previous main.

For every job kind of the default experiments, a fresh interpreter imports what that job's
process imports (``python -X importtime``): Snakemake's script module, ``attnlimits.jobs``, the
runner's module and the modules the runner function imports inside its body (found in its
syntax tree: runners import their numerics lazily). The time is the sum of ``-X importtime``'s
self times, the largest packages are named; the previous main (``pipeline.BASELINE``, exported
with ``git archive``) is measured the same way in the same run. Context only: no target (the
numbers are imports, not the whole start-up; the pipeline rows measure that).
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

import torch
from common import Row
from pipeline import BASELINE, baseline_repo

#: Packages reported by name (the rest is summed under "other").
NAMED = ("torch", "xarray", "pandas", "numpy", "dask", "zarr", "scipy", "seaborn", "matplotlib",
         "ot", "snakemake", "attnlimits")  # fmt: skip

LIST_RUNNERS = """
import json
from attnlimits.registry import registered
print(json.dumps({f"{n}_{j.name}": j.runner for n, e in registered().items() for j in e.jobs}))
"""


def lazy_imports(runner: str, env: dict[str, str]) -> list[str]:
    """The modules the runner function imports in its body (``from a.b import c``: ``a.b.c``
    when that is a module, else ``a.b``)."""
    module, _, name = runner.partition(":")
    origin = subprocess.run(
        [
            sys.executable,
            "-c",
            f"import importlib.util as u; print(u.find_spec({module!r}).origin)",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    tree = ast.parse(Path(origin).read_text())
    found: list[str] = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == name:
            for inner in ast.walk(node):
                if isinstance(inner, ast.Import):
                    found += [alias.name for alias in inner.names]
                elif isinstance(inner, ast.ImportFrom) and inner.module:
                    found += [f"{inner.module}.{alias.name}" for alias in inner.names]
    return found


def import_code(modules: list[str]) -> str:
    """Code importing each of ``modules`` (``a.b.c`` as a module, else ``a.b``)."""
    lines = []
    for name in modules:
        parent = name.rpartition(".")[0]
        lines.append(
            f"try:\n    import {name}\nexcept ImportError:\n    import {parent}" if parent else
            f"import {name}"
        )  # fmt: skip
    return "\n".join(lines)


def import_times(code: str, env: dict[str, str]) -> dict[str, float]:
    """Seconds of ``-X importtime`` self time per top-level package, and ``total``."""
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        env={**env, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        check=True,
    ).stderr
    per: dict[str, float] = defaultdict(float)
    for line in out.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+\d+ \|\s*(\S+)", line)
        if match:
            top = match.group(2).split(".")[0]
            per[top if top in NAMED else "other"] += int(match.group(1)) / 1e6
    per["total"] = sum(per.values())
    return dict(per)


def kinds(env: dict[str, str]) -> dict[str, str]:
    import json

    text = subprocess.run(
        [sys.executable, "-c", LIST_RUNNERS], env=env, capture_output=True, text=True, check=True
    ).stdout
    return json.loads(text)


def modules_of(rule_runner: str, env: dict[str, str]) -> list[str]:
    """What the process of a job whose runner is ``rule_runner`` imports before it computes."""
    modules = ["snakemake.script", "attnlimits.jobs", rule_runner.partition(":")[0]]
    return modules + lazy_imports(rule_runner, env)


def measure_trees(trees: dict[str, dict[str, str]]) -> dict[str, dict[str, dict[str, float]]]:
    """For each tree (name → environment), each job kind's import times: the trees are measured
    in turn for each job kind, twice, and the smaller total is kept (a busy moment of the
    machine hits each tree alike)."""
    runners = {name: kinds(env) for name, env in trees.items()}
    rules = sorted(set().union(*(set(r) for r in runners.values())))
    out: dict[str, dict[str, dict[str, float]]] = {name: {} for name in trees}
    for rule in rules:
        codes = {
            name: import_code(modules_of(runners[name][rule], env))
            for name, env in trees.items()
            if rule in runners[name]
        }
        for _ in range(2):
            for name, code in codes.items():
                times = import_times(code, trees[name])
                best = out[name].get(rule)
                if best is None or times["total"] < best["total"]:
                    out[name][rule] = times
    return out


def describe(times: dict[str, float]) -> str:
    top = sorted(((v, k) for k, v in times.items() if k not in ("total", "other")), reverse=True)
    return ", ".join(f"{k} {v:.2f}" for v, k in top[:3])


def measure(device: torch.device, quick: bool) -> list[Row]:
    tmp = tempfile.mkdtemp(prefix="attnlimits-startup-")
    try:
        revision = os.environ.get("ATTNLIMITS_BENCH_BASELINE", BASELINE)
        _, env = baseline_repo(revision, Path(tmp) / "b")
        found = measure_trees({"ours": {**os.environ}, "before": env})
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    ours, before = found["ours"], found["before"]
    rows = []
    for rule in sorted(ours):
        now, then = ours[rule]["total"], before.get(rule, {}).get("total")
        rows.append(
            Row(
                "g. imports per job",
                rule,
                now,
                then,
                "s",
                None if not then else then / now,
                None,
                f"ours: {describe(ours[rule])}; previous main: "
                + (describe(before[rule]) if rule in before else "—"),
                details={"ours": ours[rule], "before": before.get(rule, {})},
            )
        )
    return rows

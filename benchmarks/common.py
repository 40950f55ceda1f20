"""Shared pieces of the benchmarks: the result row, timing, peak memory and the machine.

Interface of a benchmark module (what ``benchmarks/run.py`` imports from its registry)::

    def measure(device: torch.device, quick: bool) -> list[Row]: ...

``device`` is where the tensors live (``cpu`` or ``cuda``; float64 unless a row says otherwise),
``quick`` asks for small sizes and few repeats (a smoke run of seconds, whose ratios are only
indicative). Each returned ``Row`` is one line of the table: a measured quantity of ours, the
same quantity of a reference measured in the same run, their ratio oriented so that larger is
better (e.g. reference time / our time, or our flop rate / the reference's), and the target that
ratio must reach (``None``: context only). A row whose ``met`` is False makes ``run.py`` exit
non-zero, after the whole table is printed. A module may also raise (e.g. when a correctness
check fails before timing): ``run.py`` then prints a failed row for it and carries on.

Timing: ``best_time`` synchronises CUDA around every call, warms up first, and returns the best
(minimum) time of several calls: on a shared machine the minimum is the least disturbed one.
``best_times`` times several functions interleaved (a, b, a, b, ...) so that a slow period of the
machine hits ours and the reference alike.
"""

from __future__ import annotations

import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch


@dataclass
class Row:
    """One line of the benchmark table.

    ``ours`` and ``reference`` are measured values in ``unit`` (``s`` for times, ``GFLOP/s`` for
    rates, ``MB`` for memory); ``ratio`` is oriented so that larger is better, and ``met`` is
    ``ratio >= target`` (None when there is no target or nothing was measured).
    """

    benchmark: str
    case: str
    ours: float | None
    reference: float | None
    unit: str
    ratio: float | None
    target: float | None = None
    note: str = ""
    details: dict = field(default_factory=dict)
    failed: bool = False

    @property
    def met(self) -> bool | None:
        if self.failed:
            return False
        if self.target is None or self.ratio is None or not math.isfinite(self.ratio):
            return None
        return self.ratio >= self.target

    def as_dict(self) -> dict:
        return {**asdict(self), "met": self.met}


def failed_row(benchmark: str, error: BaseException) -> Row:
    """The row of a benchmark that raised: counts as a missed target."""
    note = f"FAILED: {type(error).__name__}: {error}"
    return Row(benchmark, "error", None, None, "", None, None, note, failed=True)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def resolve_device(name: str) -> torch.device:
    """``cpu``, ``cuda`` (an error without a GPU) or ``auto`` (cuda when available)."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA device is available to torch")
    return torch.device(name)


def best_time(
    fn: Callable[[], object],
    device: torch.device,
    repeats: int = 5,
    warmup: int = 1,
    min_time: float = 0.0,
) -> float:
    """Best wall time (seconds) of ``fn()`` over ``repeats`` calls after ``warmup`` calls.

    Calls go on past ``repeats`` until their total reaches ``min_time`` seconds (short functions
    get more tries), up to 50 × ``repeats`` calls of each.
    """
    return best_times([fn], device, repeats, warmup, min_time)[0]


def best_times(
    fns: Sequence[Callable[[], object]],
    device: torch.device,
    repeats: int = 5,
    warmup: int = 1,
    min_time: float = 0.0,
) -> list[float]:
    """Best wall time of each of ``fns``, timed interleaved (fn0, fn1, ..., fn0, fn1, ...)."""
    for fn in fns:
        for _ in range(warmup):
            fn()
    synchronize(device)
    best = [math.inf] * len(fns)
    total = [0.0] * len(fns)
    calls = [0] * len(fns)
    cap = 50 * repeats
    while True:
        # every fn gets ``repeats`` interleaved calls, then more until it has run ``min_time``
        due = [
            i
            for i in range(len(fns))
            if calls[i] < repeats or (total[i] < min_time and calls[i] < cap)
        ]
        if not due:
            break
        for i in due:
            synchronize(device)
            start = time.perf_counter()
            fns[i]()
            synchronize(device)
            elapsed = time.perf_counter() - start
            best[i] = min(best[i], elapsed)
            total[i] += elapsed
            calls[i] += 1
    return best


def generator(seed: int) -> torch.Generator:
    """A CPU generator: inputs are drawn on the CPU and moved, so every device sees the same."""
    return torch.Generator().manual_seed(seed)


# --------------------------------------------------------------------------- peak memory


def peak_rss_mib(code: str, *args: str) -> float:
    """Peak resident memory (MiB) of a fresh Python process running ``code`` with ``args``.

    The child runs ``code`` (``sys.argv[1:]`` are ``args``) and the peak is read after it with
    ``resource.getrusage`` (``ru_maxrss``, KiB on Linux): the whole process, interpreter and
    imports included, in the unit of Snakemake's ``max_rss`` (MiB; 1 MiB = 1.048576 MB).
    """
    probe = "\nimport resource\nprint(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)\n"
    out = subprocess.run(
        [sys.executable, "-c", code + probe, *args], check=True, capture_output=True, text=True
    )
    return float(out.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------- workflow runs

#: The repository, and what a scratch copy of the workflow needs (its code included).
REPO = Path(__file__).resolve().parents[1]
COPIED = ("workflow", "config", "src")


def scratch_repo(dest: Path) -> tuple[Path, dict[str, str]]:
    """A copy of the workflow at ``dest`` (made once) and the environment that runs its code."""
    if not dest.exists():
        dest.mkdir(parents=True)
        for name in COPIED:
            copy = shutil.copytree if (REPO / name).is_dir() else shutil.copy2
            copy(REPO / name, dest / name)
    return dest, {**os.environ, "PYTHONPATH": str(dest / "src")}


def run_measured(cmd: list[str], cwd: Path, env: dict | None = None) -> tuple[float, float, str]:
    """Wall time (s), peak RSS (MB, ``os.wait4``) of the child process, and its output's tail."""
    start = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - start
        out.seek(0)
        text = out.read()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:4])} ... failed:\n{text[-2000:]}")
    return wall, usage.ru_maxrss / 1024, text[-2000:]


# --------------------------------------------------------------------------- the machine


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine(device: torch.device) -> dict[str, str]:
    """What the numbers were measured on."""
    info = {
        "cpu": cpu_model(),
        "cores": f"{os.cpu_count()} logical",
        "torch": torch.__version__,
        "torch threads": str(torch.get_num_threads()),
        "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()}",
        "device": str(device),
    }
    try:
        import psutil

        physical = psutil.cpu_count(logical=False)
        info["cores"] = f"{os.cpu_count()} logical, {physical} physical"
        info["memory"] = f"{psutil.virtual_memory().total / 2**30:.0f} GiB"
    except ImportError:
        pass
    try:
        info["load average"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        pass
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info["gpu"] = f"{props.name}, {props.total_memory / 2**30:.0f} GiB"
        info["cuda"] = str(torch.version.cuda)
    return info


def dump_json(path: str, device: torch.device, rows: Sequence[Row], quick: bool) -> None:
    with open(path, "w") as fh:
        json.dump(
            {"machine": machine(device), "quick": quick, "rows": [r.as_dict() for r in rows]},
            fh,
            indent=2,
            default=str,
        )

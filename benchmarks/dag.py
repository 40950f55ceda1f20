"""e. Scale: DAG construction (dry run) and the heads aggregation for grids of 10³…10⁵ cells.

DAG: ``snakemake -n`` on a heads grid of ``n`` cells (10 β × 4 depths × n/40 head counts, one
limit per β), in a scratch copy of the workflow; the wall time and the peak resident memory of
the Snakemake process (``os.wait4``). Cells are batched as the workflow declares (64 heads cells a
job: :mod:`attnlimits.batches`). Targets: under 30 s at 100 000 cells, and no faster than linear
growth from 10 000 to 100 000 (ratio = 10 · t(10⁴) / t(10⁵) ≥ 1).

Aggregation: ``attnlimits.heads.aggregate.aggregate`` over ``n`` cell stores (symbolic links to
one small store per depth: the aggregation reads every one of them, the disk holds four), in a
fresh process, with its wall time and peak memory. Target: memory bounded, i.e. the peak at the
largest grid within 1.5× of the peak at 1 000 cells. ``ATTNLIMITS_BENCH_DAG_ONLY=1`` measures
the DAG alone.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
import xarray as xr
import yaml
from common import REPO, Row, run_measured, scratch_repo

from attnlimits.storage import write_dataset

BETAS = [0.5 + 0.1 * i for i in range(10)]
DEPTHS = [1, 2, 4, 8]


def grid_config(cells: int, results: Path) -> dict:
    """config/test.yaml with one heads grid of ``cells`` cells (a multiple of 40)."""
    config = yaml.safe_load((REPO / "config" / "test.yaml").read_text())
    heads = config["heads"]
    per_line = cells // (len(BETAS) * len(DEPTHS))
    heads["grids"] = {
        "big": {"N": [8], "d": [3], "beta": BETAS, "L": DEPTHS, "H": list(range(1, per_line + 1))}
    }
    heads["limit"]["records"] = 16
    config["runtime"].pop("cells_per_job", None)  # the declared batches (64 heads cells a job)
    config["plots"]["trajectories"].update(N=8, L=4, H=1, beta=BETAS[0])
    config["results"] = str(results)
    return config


def dry_run(cells: int, scratch: Path) -> tuple[float, float, int]:
    """Wall time, peak RSS (MB) and job count of a dry run over ``cells`` cells."""
    repo, env = scratch_repo(scratch / f"repo{cells}")
    cfg = repo / "config" / "dag.yaml"
    cfg.write_text(yaml.safe_dump(grid_config(cells, scratch / "results")))
    cmd = [sys.executable, "-m", "snakemake", "-n", "--cores", "1", "--configfile", str(cfg)]
    wall, rss, text = run_measured(cmd, repo, env)
    jobs = int(text.split("total", 1)[1].split()[0]) if "total" in text else -1
    return wall, rss, jobs


def synthetic_cells(cells: int, root: Path) -> tuple[list[dict], list[str]]:
    """``cells`` cell keys of ``grid_config`` and their stores: links to one store per depth."""
    rng = np.random.default_rng(0)
    seeds, inputs = 4, 2
    real = {}
    for depth in DEPTHS:
        path = root / f"L{depth}.zarr"
        if not path.exists():
            ds = xr.Dataset(
                {
                    "e2": (("seed", "input"), rng.random((seeds, inputs))),
                    "e_inf": (("seed", "input"), rng.random((seeds, inputs))),
                    "gram": (
                        ("input", "layer", "seed", "seed_"),
                        rng.random((inputs, depth + 1, seeds, seeds)),
                    ),
                    "limit_error": ((), 1e-7),
                }
            )
            write_dataset(ds, path)  # with its manifest, as a cell job writes it
        real[depth] = path
    links = root / f"links{cells}"
    per_line = cells // (len(BETAS) * len(DEPTHS))
    keys, stores = [], []
    for beta in BETAS:
        for depth in DEPTHS:
            for heads in range(1, per_line + 1):
                key = dict(mask="causal", normalisation="sphere", N=8, d=3, beta=beta)
                keys.append({**key, "L": depth, "H": heads})
                stores.append(str(links / f"b{beta:.1f}_L{depth}_H{heads}.zarr"))
    if not links.exists():
        links.mkdir()
        for key, store in zip(keys, stores, strict=True):
            os.symlink(real[key["L"]], store)
    return keys, stores


AGGREGATE = """
import json, sys
from attnlimits.heads.aggregate import aggregate
keys, stores = json.load(open(sys.argv[1]))
aggregate(keys, stores, {"experiment": "heads"}, sys.argv[2])
"""


def aggregation(cells: int, scratch: Path) -> tuple[float, float]:
    """Wall time and peak RSS (MB) of aggregating ``cells`` synthetic cells in a fresh process."""
    import json

    keys, stores = synthetic_cells(cells, scratch)
    spec = scratch / f"cells{cells}.json"
    spec.write_text(json.dumps([keys, stores]))
    out = scratch / f"heads{cells}.zarr"
    wall, rss, _ = run_measured(
        [sys.executable, "-c", AGGREGATE, str(spec), str(out)], scratch, {**os.environ}
    )
    check = xr.open_zarr(out, consolidated=True)
    filled = int(check["e2"].notnull().all(["seed", "input"]).sum())
    if filled != cells:
        raise RuntimeError(f"aggregation of {cells} cells filled {filled} grid points")
    shutil.rmtree(out)
    return wall, rss


def measure(device: torch.device, quick: bool) -> list[Row]:
    sizes = [1000, 2000] if quick else [1000, 10_000, 100_000]
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="attnlimits-dag-") as tmp:
        scratch = Path(tmp)
        dag = {n: dry_run(n, scratch) for n in sizes}
        for n, (wall, rss, jobs) in dag.items():
            target = 30.0 if n == 100_000 else None
            rows.append(
                Row(
                    "e. DAG (dry run)",
                    f"{n:,} cells, {jobs:,} jobs",
                    wall,
                    target,
                    "s",
                    None if target is None else target / wall,
                    None if target is None else 1.0,
                    f"peak RSS {rss:.0f} MB; ratio = 30 s / time",
                )
            )
        small, large = sizes[-2], sizes[-1]
        factor = large / small
        rows.append(
            Row(
                "e. DAG (dry run)",
                f"growth {small:,} → {large:,} cells",
                dag[large][0],
                dag[small][0] * factor,
                "s",
                dag[small][0] * factor / dag[large][0],
                1.0,
                f"ratio = {factor:g} · t({small:,}) / t({large:,}): ≥ 1 is linear or better",
            )
        )
        if os.environ.get("ATTNLIMITS_BENCH_DAG_ONLY"):  # the aggregation rows take minutes
            return rows
        agg = {n: aggregation(n, scratch) for n in sizes}
        for n, (wall, rss) in agg.items():
            rows.append(
                Row(
                    "e. aggregation",
                    f"{n:,} cells",
                    wall,
                    None,
                    "s",
                    None,
                    note=f"peak RSS {rss:.0f} MB; {1e3 * wall / n:.2f} ms per cell",
                )
            )
        base, top = agg[sizes[0]][1], agg[large][1]
        rows.append(
            Row(
                "e. aggregation",
                f"peak memory, {large:,} vs {sizes[0]:,} cells",
                top,
                base,
                "MB",
                1.5 * base / top,
                1.0,
                "bounded: ratio = 1.5 × peak(small) / peak(large)",
            )
        )
    return rows

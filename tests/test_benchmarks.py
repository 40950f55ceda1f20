"""The benchmarks (benchmarks/run.py) still run and still compare like with like.

Correctness checks of the references on tiny sizes (the per-head loop and simulate, our RK4 and
torchdiffeq's classical RK4, our Euler–Maruyama and torchsde's), the quick measurements of b and
c, the table's exit status, and the peak-memory parser on a canned dry run.
"""

from __future__ import annotations

import math
import sys
import types
from pathlib import Path

import pytest
import torch

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCH))

import attention_rate  # noqa: E402
import peak_memory  # noqa: E402
import run  # noqa: E402
import simulation_loop  # noqa: E402
from common import Row  # noqa: E402

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def solvers():
    """benchmarks/solvers.py, which needs the bench extras (torchdiffeq, torchsde)."""
    pytest.importorskip("torchdiffeq")
    pytest.importorskip("torchsde")
    import solvers

    return solvers


def test_attention_layer_matches_plain_layer():
    assert attention_rate.check(CPU, n=12, d=4) <= 1e-12


def test_simulate_matches_per_head_loop():
    assert simulation_loop.check(CPU) <= 1e-12
    # and the comparison is not vacuous: another step size gives another answer
    atoms, x0, assignment = simulation_loop.setup(2, 2, 4, 8, 8, 3, 4, CPU)
    a = simulation_loop.ours(x0, atoms, assignment)
    q, k, v = atoms.q, atoms.k, atoms.v
    b = simulation_loop.naive_simulate(x0, q, k, v, assignment, 0.9, 1.0, "encoder", "sphere")
    assert (a - b).abs().max() > 1e-6


@pytest.mark.parametrize("mask", ["encoder", "causal"])
def test_rk4_matches_torchdiffeq_classical_not_the_3_8_rule(solvers, mask):
    f, x0 = solvers.ode_problem(8, mask, CPU, inputs=2)
    ours = solvers.ours_ode(f, x0, 4, 2)
    classical = solvers.torchdiffeq_ode(f, x0, 4, 2)
    three_eighths = solvers.torchdiffeq_ode(f, x0, 4, 2, "rk4")
    assert ours.shape == classical.shape == (2, 5, 8, 3)
    assert (ours - classical).abs().max() <= 1e-12
    assert (ours - three_eighths).abs().max() > 1e-12


def test_euler_maruyama_matches_torchsde(solvers):
    head, field, x0, xi = solvers.sde_problem(2, 4, 3, 8, CPU)
    dw = (math.sqrt(1 / 8) * xi).transpose(0, 1).reshape(8, 2, 12).contiguous()
    ours = solvers.euler_maruyama(x0, head, 1.0, field, xi)
    theirs = solvers.torchsde_em(head, field, x0, dw, 8)
    assert (ours - theirs).abs().max() <= 1e-12
    assert (ours[:, -1] - x0).abs().max() > 1e-3  # the noise moved the tokens


def test_quick_measurements_b_and_c(solvers):
    rows = simulation_loop.measure(CPU, quick=True) + solvers.measure(CPU, quick=True)
    assert {r.benchmark for r in rows} == {
        "b. simulation vs loop",
        "c. ODE vs torchdiffeq",
        "c. SDE vs torchsde",
    }
    for r in rows:
        assert r.ours > 0 and r.reference > 0 and math.isfinite(r.ratio), r
    assert any(r.target is not None for r in rows)


def test_run_prints_the_table_and_fails_on_a_missed_target(monkeypatch, capsys):
    fake = types.ModuleType("fake_bench")
    fake.measure = lambda device, quick: [
        Row("x. fake", "met", 1.0, 2.0, "s", 2.0, 1.0),
        Row("x. fake", "missed", 2.0, 1.0, "s", 0.5, 1.0),
        Row("x. fake", "context", 2.0, 1.0, "s", 0.5),
    ]
    broken = types.ModuleType("broken_bench")

    def boom(device, quick):
        raise AssertionError("reference disagrees")

    broken.measure = boom
    monkeypatch.setitem(sys.modules, "fake_bench", fake)
    monkeypatch.setitem(sys.modules, "broken_bench", broken)
    monkeypatch.setattr(run, "REGISTRY", [("x", "fake_bench", ""), ("y", "broken_bench", "")])
    assert run.main(["--only", "x", "--threads", str(torch.get_num_threads())]) == 1
    out = capsys.readouterr().out
    assert "| x. fake" in out and "**NO**" in out and "1 target(s) missed" in out
    assert run.main(["--only", "y", "--threads", str(torch.get_num_threads())]) == 1
    assert "FAILED: AssertionError: reference disagrees" in capsys.readouterr().out


DRY_RUN = """\
rule heads_cell:
    output: results/heads/cells/a.zarr
    benchmark: results/benchmarks/heads/cells/a.tsv
    wildcards: mask=encoder, L=4, hash=abc
    resources: tmpdir=/tmp, runtime=30, mem_mb=2000, mem=2 GB, mem_mib=1908
rule sde_run:
    benchmark: results/benchmarks/sde/b.tsv
    wildcards: kind=depth, hash=def
    resources: tmpdir=/tmp, mem_mb=4000, mem_mib=3815
localrule all:
    input: x
"""


def test_peak_memory_reads_dry_run_and_tsvs(tmp_path):
    jobs = peak_memory.parse_dry_run(DRY_RUN)
    assert [j.rule for j in jobs] == ["heads_cell", "sde_run", "all"]
    assert jobs[0].mem_mb == 2000 and jobs[0].name == "heads_cell mask=encoder L=4"
    (row,) = peak_memory.rows_for(jobs, tmp_path)
    assert row.ours is None and "run the pipeline first" in row.note
    bench = tmp_path / "results" / "benchmarks"
    (bench / "heads" / "cells").mkdir(parents=True)
    (bench / "sde").mkdir()
    header = "s\th:m:s\tmax_rss\tmax_vms\n"
    # 1950 MiB = 2045 MB: over the 2000 MB reserved, which only the MiB -> MB conversion shows
    (bench / "heads" / "cells" / "a.tsv").write_text(header + "5.0\t0:00:05\t1950.0\t2000\n")
    (bench / "sde" / "b.tsv").write_text(header + "9.0\t0:00:09\t2000.0\t3000\n")
    (bench / "sde" / "stale.tsv").write_text(header + "9.0\t0:00:09\t9999.0\t3000\n")
    largest, tightest = peak_memory.rows_for(jobs, tmp_path)
    assert largest.case.startswith("largest max_rss: sde_run")
    assert largest.ours == pytest.approx(2000.0 * 1.048576)
    assert largest.ratio == pytest.approx(4000 / (2000.0 * 1.048576)) and largest.met
    assert tightest.case.startswith("closest to mem_mb: heads_cell") and not tightest.met
    assert "2/2 default jobs" in largest.note and "1 stale" in largest.note

"""The results pages (docs/results/*.md) against their templates, their snapshot and a run.

- Rendering the committed templates with the committed snapshot (docs/results/run.json) gives
  exactly the committed pages, so a number edited by hand in a page fails here.
- Every placeholder of the templates has its value in the snapshot, and every value of the
  snapshot is used by a placeholder.
- The snapshot builder finds each kind of address in a small results folder written here (a cell
  by its row's values, min, max, largest absolute value and count over rows, a table kept beside
  an experiment's tables, the verdict page, the facts of the run from Snakemake's log, the
  benchmarks and a store's attributes) and names the address when it cannot.
- With ``ATTNLIMITS_PAGES_RESULTS`` (a default run's results folder) and
  ``ATTNLIMITS_PAGES_LOG`` (its Snakemake log) set, the snapshot built from that run equals the
  committed one.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from attnlimits import results_pages as pages
from attnlimits.results_snapshot import AddressError, build_snapshot, read_snapshot, resolve

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs" / "results"
MATHEMATICS = ROOT / "docs" / "mathematics.md"


def test_the_committed_pages_are_their_rendering():
    rendered = pages.rendered_pages(DOCS)
    assert sorted(p.name for p in rendered) == [
        "adamw.md",
        "heads.md",
        "index.md",
        "lowtemp.md",
        "sde.md",
    ]
    for path, text in rendered.items():
        assert path.read_text() == text, (
            f"{path.relative_to(ROOT)} is not the rendering of its template: edit the template "
            "and run `python -m attnlimits pages`"
        )
    assert pages.main(["--docs", str(DOCS), "--mathematics", str(MATHEMATICS), "--check"]) == 0


def test_check_fails_on_a_number_edited_by_hand(tmp_path):
    docs = tmp_path / "results"
    (docs / "templates").mkdir(parents=True)
    for path in (DOCS / "templates").glob("*.md.in"):
        (docs / "templates" / path.name).write_text(path.read_text())
    (docs / "run.json").write_text((DOCS / "run.json").read_text())
    mathematics = tmp_path / "mathematics.md"
    mathematics.write_text(MATHEMATICS.read_text())
    args = ["--docs", str(docs), "--mathematics", str(mathematics)]
    assert pages.main(args) == 0
    assert pages.main([*args, "--check"]) == 0
    page = docs / "heads.md"
    text = page.read_text()
    number = pages.format_value(
        read_snapshot(DOCS / "run.json")["heads/claims[claim=bias_L, mask=causal].fitted"], ".3f"
    )
    assert number in text
    page.write_text(text.replace(number, "−0.500", 1))
    assert pages.main([*args, "--check"]) == 1


def test_every_placeholder_has_a_value_and_every_value_is_used():
    snapshot = read_snapshot(DOCS / "run.json")
    used = pages.addresses(DOCS)
    assert used, "the templates quote no value of the run"
    assert sorted(used - set(snapshot)) == [], "placeholders without a value in run.json"
    assert sorted(set(snapshot) - used) == [], "values of run.json that no template uses"


@pytest.mark.parametrize(
    ("value", "fmt", "text"),
    [
        (-0.90767, ".3f", "−0.908"),
        (0.01397, "+.2f", "+0.01"),
        (0.000163, ".1e", "1.6e-4"),
        (-2.0e-15, ".0e", "−2e-15"),
        (24885518.0, "s2", "25000000"),
        (0.0045123, "s2", "0.0045"),
        (503.0, "minutes .1f", "8.4"),
        (0.0179, "percent .1f", "1.8"),
        (8.0, "d", "8"),
        (39, "", "39"),
        ("holds, not sharp", "", "holds, not sharp"),
        (False, "", "False"),
    ],
)
def test_format_value(value, fmt, text):
    assert pages.format_value(value, fmt) == text


def test_format_value_refuses_what_it_cannot_write():
    with pytest.raises(ValueError, match="needs a format"):
        pages.format_value(0.5, "")
    with pytest.raises(ValueError, match="non-number"):
        pages.format_value("matches", ".2f")


def test_render_writes_intervals_and_escaped_braces():
    snapshot = {
        "sde/claims[claim=x].fitted": -0.5,
        "sde/claims[claim=x].ci_low": -0.61,
        "sde/claims[claim=x].ci_high": -0.39,
        "heads/points[L=4].err": 0.25,
        "heads/points[L=4].err_low": 0.2,
        "heads/points[L=4].err_high": 0.3,
    }
    text = (
        "a {{ sde/claims[claim=x].fitted | ci .2f }}, b {{ heads/points[L=4].err | interval .1f }},"
        " c \\{{ literal }}"
    )
    assert (
        pages.render(text, snapshot) == "a −0.50 [−0.61, −0.39], b 0.2 [0.2, 0.3], c {{ literal }}"
    )
    assert pages.expanded("heads/points[L=4].err", "interval .1f") == [
        "heads/points[L=4].err",
        "heads/points[L=4].err_low",
        "heads/points[L=4].err_high",
    ]
    with pytest.raises(AddressError, match="not in the snapshot"):
        pages.render("{{ heads/points[L=8].err | .2f }}", snapshot)


# --- the snapshot builder on a small results folder -------------------------------------------

LOG = """\
SNAKEMAKE
=========
  Date: 2026-12-06 15:54:39
  Snakemake version: 9.27.1
  Config file(s): ['config/config.yaml']
  Config MD5: 0123456789abcdef
Provided cores: 2
[Sun Dec  6 15:54:41 2026]
rule heads_fit:
[Sun Dec  6 15:55:08 2026]
Finished jobid: 2 (Rule: heads_fit)
[Sun Dec  6 16:03:02 2026]
Finished jobid: 1 (Rule: verdicts)
[Sun Dec  6 16:03:02 2026]
Finished jobid: 0 (Rule: all)
"""


def write_csv(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.fixture
def run(tmp_path) -> tuple[Path, Path]:
    results = tmp_path / "results"
    write_csv(
        results / "heads" / "tables" / "claims.csv",
        "claim,mask,H,fitted,ci_low,ci_high,status\n"
        "bias_L,causal,1024.0,-0.9,-0.95,-0.85,holds on the grid\n"
        'bias_L,encoder,1024.0,-0.8,-0.85,-0.75,"holds, not sharp"\n'
        "err_N,causal,,0.01,-0.02,0.03,matches\n",
    )
    write_csv(results / "sde" / "exponents" / "exponents.csv", "activation,err\nrelu,-3e-4\n")
    write_csv(
        results / "verdicts.csv",
        "experiment,status\nheads,matches\nheads,holds on the grid\nsde,matches\n",
    )
    for name, seconds in (("fit", 9.2), ("plots", 30.8)):
        write_csv(results / "benchmarks" / "heads" / f"{name}.tsv", f"s\th:m:s\n{seconds}\t0:00\n")
    store = results / "heads" / "statistics.zarr"
    store.mkdir(parents=True)
    attrs = {"git_commit": "a3a4ca4", "git_dirty": False, "created": "2026-12-06T16:01:49"}
    (store / ".zattrs").write_text(json.dumps(attrs))
    log = tmp_path / "run.snakemake.log"
    log.write_text(LOG)
    return results, log


@pytest.mark.parametrize(
    ("address", "value"),
    [
        ("heads/claims[claim=bias_L, mask=causal].fitted", -0.9),
        ("heads/claims[claim=bias_L, H=1024].status", None),  # two rows: an error, below
        ('heads/claims[status="holds, not sharp"].mask', "encoder"),
        ("heads/claims[claim=err_N, H=].fitted", 0.01),
        ("heads/claims[status~sharp].ci_low", -0.85),
        ("min(heads/claims[claim=bias_L].ci_low)", -0.95),
        ("max(heads/claims.fitted)", 0.01),
        ("maxabs(heads/claims.fitted)", 0.9),
        ("count(heads/claims[claim=bias_L])", 2),
        ("count(heads/claims[claim=fluct_H])", 0),
        ("sde/exponents[activation=relu].err", -3e-4),
        ("count(verdicts[experiment=heads])", 2),
        ("run.jobs", 2),
        ("run.wall_s", 503.0),
        ("run.job_s", 40.0),
        ("run.cores", "2"),
        ("run.date", "2026-12-06 15:54:39"),
        ("run.config_md5", "0123456789abcdef"),
        ("run.git_commit", "a3a4ca4"),
        ("run.git_dirty", False),
    ],
)
def test_resolve(run, address, value):
    results, log = run
    if value is None:
        with pytest.raises(AddressError, match="2 rows of claims.csv match"):
            resolve(address, results, log)
    else:
        assert resolve(address, results, log) == pytest.approx(value)


@pytest.mark.parametrize(
    ("address", "message"),
    [
        ("heads/claims[claim=fluct_H].fitted", "no row of claims.csv matches"),
        ("heads/claims[claim=bias_L, mask=causal].slope", "has no column 'slope'"),
        ("heads/claims[shape=x].fitted", "has no column 'shape'"),
        ("heads/slopes[claim=bias_L].fitted", "no table"),
        ("heads/claims[claim=err_N].H", "an empty cell"),
        ("min(heads/claims.status)", "no number"),
        ("count(heads/claims.fitted)", "count rows without one"),
        ("heads/claims[claim bias_L].fitted", "malformed"),
        ("Heads/claims.fitted", "malformed address"),
        ("run.minutes", "no such field"),
    ],
)
def test_resolve_names_the_address_it_cannot_find(run, address, message):
    results, log = run
    with pytest.raises(AddressError, match=message):
        resolve(address, results, log)


def test_the_facts_of_the_log_need_the_log(run):
    results, _ = run
    with pytest.raises(AddressError, match="give --log"):
        resolve("run.jobs", results, None)
    assert resolve("run.git_commit", results, None) == "a3a4ca4"


def test_the_command_rebuilds_the_snapshot_and_the_pages(run, tmp_path):
    results, log = run
    docs = tmp_path / "docs"
    (docs / "templates").mkdir(parents=True)
    (docs / "templates" / "p.md.in").write_text(
        "C = {{ heads/claims[claim=bias_L, mask=causal].fitted | ci .2f }}, "
        "{{ run.jobs }} jobs in {{ run.wall_s | minutes .1f }} min\n"
    )
    mathematics = tmp_path / "mathematics.md"
    mathematics.write_text(MATHEMATICS.read_text())
    args = ["--docs", str(docs), "--results", str(results), "--log", str(log)]
    args += ["--mathematics", str(mathematics)]
    assert pages.main(args) == 0
    assert (docs / "p.md").read_text() == pages.header(
        "p"
    ) + "C = −0.90 [−0.95, −0.85], 2 jobs in 8.4 min\n"
    assert set(read_snapshot(docs / "run.json")) == pages.addresses(docs)
    assert pages.main([*args, "--check"]) == 0
    write_csv(
        results / "heads" / "tables" / "claims.csv",
        "claim,mask,fitted,ci_low,ci_high\nbias_L,causal,-0.7,-0.75,-0.65\n",
    )
    assert pages.main([*args, "--check"]) == 1  # the run moved: the snapshot differs
    (docs / "templates" / "p.md.in").write_text("{{ heads/claims[claim=gone].fitted | .2f }}\n")
    assert pages.main(args) == 2  # an address the run does not have


@pytest.mark.skipif(
    not os.environ.get("ATTNLIMITS_PAGES_RESULTS"),
    reason="set ATTNLIMITS_PAGES_RESULTS (and ATTNLIMITS_PAGES_LOG) to a default run's folder",
)
def test_the_snapshot_is_the_default_runs():
    results = Path(os.environ["ATTNLIMITS_PAGES_RESULTS"])
    log = os.environ.get("ATTNLIMITS_PAGES_LOG")
    built = build_snapshot(pages.addresses(DOCS), results, log)
    assert built == read_snapshot(DOCS / "run.json")

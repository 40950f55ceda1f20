"""The report: the verdict table (``attnlimits.verdicts``), captions and ``snakemake --report``.

Fast: the verdict table and page from synthetic claims tables (rows, values carried over, missing
experiments), every caption renders, every table of every experiment has one. Slow: a run of
config/test.yaml, then ``snakemake --report report.html``: the file is self-contained (every
result is a data URI, no tag loads anything from outside), it holds every plot and table with a
caption, and its landing page (the workflow description) shows every claim with its verdict.
"""

from __future__ import annotations

import base64
import json
import re
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace

import jinja2
import pandas as pd
import pytest
from docutils.core import publish_parts
from workflow_helpers import REPO, copy_repo, snakemake

from attnlimits import verdicts
from attnlimits.verdicts import COLUMNS, verdict_html, verdict_table, write_verdicts

HEADS = pd.DataFrame(
    {
        "experiment": ["heads", "heads", "heads"],
        "claim": ["bias_L", "fluct_H", "err_N"],
        "grid": ["depth_heads", "depth_heads", "tokens"],
        "N": [32.0, 32.0, float("nan")],
        "beta": [1.0, 1.0, 0.5],
        "quantity": ["bias", "fluct", "err"],
        "swept": ["L", "H", "N"],
        "predicted": [-1.0, -0.5, 0.0],
        "fitted": [-0.9077, -0.4962, -0.2126],
        "ci_low": [-0.9145, -0.5099, -0.239],
        "ci_high": [-0.9016, -0.4834, -0.1791],
        "verdict": ["violated", "consistent", "sharper"],
        "target": ["within 0.15 of -1", "within 0.1 of -1/2", "upper end <= 0.1"],
        "target_met": [True, True, True],
        "n_points": [6, 36, 6],
        "n_excluded": [0, 0, 1],
    }
)
# lowtemp's claims table has no target columns but a note; sde's has observation verdicts.
LOWTEMP = pd.DataFrame(
    {
        "experiment": ["lowtemp", "lowtemp"],
        "claim": ["t_star", "phase"],
        "variant": ["plain", "plain"],
        "head": ["identity", "identity"],
        "time": [float("nan"), 2.5],
        "beta": [float("nan"), float("inf")],
        "quantity": ["t_star", "off_axis_moment"],
        "swept": ["beta", "time"],
        "predicted": [0.0, -1.3],
        "fitted": [0.71, float("nan")],
        "ci_low": [float("nan"), float("nan")],
        "ci_high": [float("nan"), float("nan")],
        "verdict": ["undetermined", "violated"],
        "n_points": [2, 5],
        "note": ["hardmax flow does not approach T#mu0", ""],
    }
)
SDE = pd.DataFrame(
    {
        "experiment": ["sde", "sde"],
        "claim": ["cluster", "cluster"],
        "activation": ["tanh", "relu"],
        "predicted": [0.01, 0.01],
        "fitted": [0.002, 0.5],
        "ci_low": [0.001, 0.4],
        "ci_high": [0.003, 0.6],
        "verdict": ["clusters", "no clusters"],
        "target": ["clusters", "clusters"],
        "target_met": ["True", "False"],
    }
)


def test_verdict_table_carries_every_claim_over():
    table = verdict_table({"heads": HEADS, "lowtemp": LOWTEMP})
    assert list(table.columns) == COLUMNS
    assert len(table) == len(HEADS) + len(LOWTEMP)
    assert list(table["experiment"]) == ["heads"] * 3 + ["lowtemp"] * 2
    assert list(table["claim"]) == [*HEADS["claim"], *LOWTEMP["claim"]]
    assert list(table["verdict"]) == [*HEADS["verdict"], *LOWTEMP["verdict"]]
    for column in ("predicted", "fitted", "ci_low", "ci_high"):
        expected = pd.concat([HEADS[column], LOWTEMP[column]], ignore_index=True)
        pd.testing.assert_series_equal(table[column], expected, check_names=False)
    # grid coordinates folded into `setting`; NaN coordinates left out, integers without ".0"
    assert table.loc[0, "setting"] == ("grid=depth_heads, N=32, beta=1, quantity=bias, swept=L")
    assert table.loc[2, "setting"] == "grid=tokens, beta=0.5, quantity=err, swept=N"
    assert table.loc[4, "setting"] == (
        "variant=plain, head=identity, time=2.5, beta=inf, quantity=off_axis_moment, swept=time"
    )
    # columns a table lacks are empty, not invented
    assert list(table["target"]) == [*HEADS["target"], "", ""]
    assert table["target_met"].iloc[:3].tolist() == [True, True, True]
    assert table["target_met"].iloc[3:].isna().all()
    assert list(table["note"]) == ["", "", "", "hardmax flow does not approach T#mu0", ""]
    assert table["n_points"].tolist() == [6, 36, 6, 2, 5]


def test_verdict_table_skips_missing_and_empty_experiments():
    table = verdict_table({"sde": None, "heads": HEADS, "adamw": HEADS.iloc[:0]})
    assert list(table["experiment"]) == ["heads"] * 3
    empty = verdict_table({"sde": None})
    assert list(empty.columns) == COLUMNS and empty.empty


def test_verdict_table_refuses_rows_of_another_experiment():
    with pytest.raises(ValueError, match="claims table of sde holds rows of heads"):
        verdict_table({"sde": HEADS})


def test_read_claims_refuses_a_table_without_verdicts(tmp_path):
    path = tmp_path / "claims.csv"
    HEADS.drop(columns=["verdict", "ci_high"]).to_csv(path, index=False)
    with pytest.raises(ValueError, match="no column ci_high, verdict"):
        verdicts.read_claims(path)


def test_observation_verdicts_take_their_colour_from_the_target():
    table = verdict_table({"sde": SDE})
    assert table["target_met"].tolist() == [True, False]
    assert verdicts.tone("clusters", True) == "consistent"
    assert verdicts.tone("no clusters", False) == "violated"
    assert verdicts.tone("no clusters", None) == "neutral"
    assert verdicts.tone("violated", True) == "violated"  # a rate verdict keeps its own colour
    assert verdicts.tone("sharper") == "sharper"


def _rows(page: str) -> list[list[str]]:
    """The cells of every body row of the page's claim table (the second table)."""
    body = page.split("<tbody>")[2].split("</tbody>")[0]
    return [re.findall(r"<td[^>]*>(.*?)</td>", row) for row in body.split("</tr>") if "<td" in row]


def test_verdict_page_shows_every_claim_with_its_values():
    table = verdict_table({"heads": HEADS, "lowtemp": LOWTEMP, "sde": SDE})
    page = verdict_html(table, ["heads", "sde", "adamw", "lowtemp"], missing=["adamw"])
    rows = _rows(page)
    assert len(rows) == len(table)
    first = rows[0]
    assert first[:2] == ["heads", "bias_L"]
    assert first[3:7] == ["-1", "-0.9077", "[-0.9145, -0.9016]", "violated"]
    assert first[7:9] == ["within 0.15 of -1", "yes"]
    assert rows[3][3:7] == ["0", "0.71", "—", "undetermined"]
    assert rows[4][5] == "—"  # NaN interval
    # colour per verdict
    assert 'class="verdict tone-violated">violated<' in page
    assert 'class="verdict tone-consistent">consistent<' in page
    assert 'class="verdict tone-sharper">sharper<' in page
    assert 'class="verdict tone-neutral">undetermined<' in page
    assert 'class="verdict tone-consistent">clusters<' in page
    assert 'class="verdict tone-violated">no clusters<' in page
    # text is escaped
    assert "upper end &lt;= 0.1" in page
    # counts per experiment, in the configured order, the missing one with zeros and named
    counts = page.split("<tbody>")[1].split("</tbody>")[0]
    assert [re.search(r"<td>(\w+)</td>", r).group(1) for r in counts.split("</tr>")[:-1]] == [
        "heads",
        "sde",
        "adamw",
        "lowtemp",
    ]
    assert "No claims table for: adamw" in page
    # self-contained: no scripts, nothing loaded
    assert "<script" not in page and "http" not in page and "src=" not in page


def test_write_verdicts_handles_a_missing_claims_file(tmp_path):
    heads = tmp_path / "heads" / "claims.csv"
    heads.parent.mkdir()
    HEADS.to_csv(heads, index=False)
    csv, page = tmp_path / "out" / "verdicts.csv", tmp_path / "out" / "verdicts.html"
    table = write_verdicts({"heads": heads, "sde": tmp_path / "sde" / "claims.csv"}, csv, page)
    assert len(table) == 3
    back = pd.read_csv(csv)
    assert list(back.columns) == COLUMNS
    assert back["fitted"].tolist() == HEADS["fitted"].tolist()
    assert back["verdict"].tolist() == HEADS["verdict"].tolist()
    text = page.read_text()
    assert "No claims table for: sde" in text and "3 claims checked in 2 experiment(s)" in text


# --- captions ---------------------------------------------------------------------------------

REPORT_DIR = REPO / "workflow" / "report"


# Snakemake appends a link target per category (and per result) to every caption.
LINKS = "\n\n.. _Verdicts: javascript:app.showCategory('Verdicts')\n"


def _render(caption: Path, files: list, insertion: bool = False) -> str:
    """A caption as ``snakemake --report`` renders it; warnings and errors raise."""
    config = {"experiments": ["heads", "sde"]}
    text = jinja2.Template(caption.read_text() + LINKS).render(
        snakemake=type("S", (), {"config": config}), files=files, categories={}
    )
    overrides = {"halt_level": 2, "report_level": 5, "file_insertion_enabled": insertion}
    return publish_parts(text, writer="html", settings_overrides=overrides)["html_body"]


@pytest.mark.parametrize("caption", sorted(REPORT_DIR.glob("*.rst")), ids=lambda p: p.name)
def test_caption_renders_without_warnings(caption):
    assert _render(caption, files=[]).strip()


def test_landing_page_embeds_the_verdict_page(tmp_path):
    heads = tmp_path / "claims.csv"
    HEADS.to_csv(heads, index=False)
    page = tmp_path / "verdicts.html"
    write_verdicts({"heads": heads}, tmp_path / "verdicts.csv", page)
    record = SimpleNamespace(target="verdicts.html", path=page)
    landing = _render(REPORT_DIR / "workflow.rst", files=[record], insertion=True)
    assert 'class="attnlimits-verdicts"' in landing
    assert len(_rows(landing)) == len(HEADS)
    assert "not part of this report" not in landing
    without = _render(REPORT_DIR / "workflow.rst", files=[])
    assert "attnlimits-verdicts" not in without and "not part of this report" in without


@pytest.mark.parametrize("experiment", ["heads", "sde", "adamw", "lowtemp"])
def test_every_table_has_a_caption(experiment):
    rules = (REPO / "workflow" / "rules" / f"{experiment}.smk").read_text()
    listed = re.search(rf"^{experiment.upper()}_TABLES = \[(.*?)\]", rules, re.M | re.S)
    tables = re.findall(r'"(\w+)"', listed.group(1))
    assert "claims" in tables
    if experiment == "sde":
        tables.append("exponents")  # rule sde_kernel_table
    for table in tables:
        assert (REPORT_DIR / f"{experiment}_table_{table}.rst").is_file(), table


# --- snakemake --report -----------------------------------------------------------------------


class _Tags(HTMLParser):
    """Every (tag, attribute, value) of the page's markup (script and style bodies are text)."""

    def __init__(self) -> None:
        super().__init__()
        self.attrs: list[tuple[str, str, str]] = []

    def handle_starttag(self, tag, attrs):
        self.attrs += [(tag, name, value or "") for name, value in attrs]


def _script_value(page: str, name: str):
    """The JSON value that the report's ``<script id=...>`` assigns to ``var name``."""
    element = name.replace("_", "-")
    match = re.search(rf'<script id="{element}">\s*var {name} = (.*?);\s*</script>', page, re.S)
    assert match, name
    return json.loads(match.group(1))


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    repo = copy_repo(tmp_path_factory.mktemp("report") / "repo")
    snakemake(repo, "--cores", "2")
    snakemake(repo, "--report", "report.html")
    return repo, (repo / "report.html").read_text(encoding="utf-8")


@pytest.mark.slow
def test_report_is_self_contained(report):
    _, page = report
    tags = _Tags()
    tags.feed(page)
    loads = [(t, a, v) for t, a, v in tags.attrs if a in ("src", "href") and "//" in v]
    assert not loads, loads  # every library is inlined; nothing is fetched
    results = _script_value(page, "results")
    assert results
    for path, entry in results.items():
        assert entry["data_uri"].startswith("data:"), path


@pytest.mark.slow
def test_report_holds_every_plot_and_table_with_a_caption(report):
    repo, page = report
    results = _script_value(page, "results")
    names = {Path(p).relative_to("results").as_posix(): e for p, e in results.items()}
    plots = sorted(p.relative_to(repo / "results").as_posix()
                   for p in (repo / "results" / "heads" / "plots").glob("*.png"))  # fmt: skip
    tables = sorted(p.relative_to(repo / "results").as_posix()
                    for p in (repo / "results" / "heads" / "tables").glob("*.html"))  # fmt: skip
    assert len(plots) == 6 and len(tables) == 7
    assert set(names) == {*plots, *tables, "verdicts.csv", "verdicts.html"}
    for name, entry in names.items():
        assert entry["caption"].strip(), name
        data = base64.b64decode(entry["data_uri"].split(",", 1)[1])
        assert data == (repo / "results" / name).read_bytes(), name
    categories = _script_value(page, "categories")
    assert set(categories) == {"heads", "Verdicts"}


@pytest.mark.slow
def test_report_landing_page_shows_every_verdict(report):
    repo, page = report
    landing = _script_value(page, "workflow_desc")
    assert 'class="attnlimits-verdicts"' in landing
    assert "System Message" not in landing  # docutils reports errors inline
    claims = pd.read_csv(repo / "results" / "heads" / "tables" / "claims.csv")
    assert len(claims) > 0
    rows = _rows(landing.split('class="attnlimits-verdicts"', 1)[1])
    assert len(rows) == len(claims)

    def number(x):
        return "—" if pd.isna(x) else f"{x:.4g}"

    for row, (_, claim) in zip(rows, claims.iterrows(), strict=True):
        assert row[1] == claim["claim"] and row[6] == claim["verdict"]
        assert row[3:5] == [number(claim["predicted"]), number(claim["fitted"])]
        low, high = claim["ci_low"], claim["ci_high"]
        assert row[5] == (
            "—" if pd.isna(low) and pd.isna(high) else f"[{number(low)}, {number(high)}]"
        )

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
from workflow_helpers import REPO, snakemake

from attnlimits import verdicts
from attnlimits.analysis.claims import STATUSES, Statement
from attnlimits.registry import registered
from attnlimits.verdicts import COLUMNS, verdict_html, verdict_table, write_verdicts

JUDGED = ["source", "statement", "kind", "premise", "status", "reason"]
P1_BIAS = Statement("P1", "P1.bias", "the bias decays like 1/L", "Theorem 1")
P3_PHASE = Statement("P3", "P3.phase", "the phase moment decays at rate -2 lambda_2", "Prop. 4")

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
        "n_points": [6, 36, 6],
        "n_excluded": [0, 0, 1],
        "fine_slope": [-1.01, float("nan"), float("nan")],
        "fine_low": [-1.1, float("nan"), float("nan")],
        "fine_high": [-0.95, float("nan"), float("nan")],
        "source": [
            "P1: Theorem 1",
            "heuristic (docs/mathematics.md)",
            "derived (docs/mathematics.md)",
        ],
        "statement": ["P1.bias", "", ""],
        "kind": ["bound", "rate", "rate"],
        "premise": ["none", "none", "none"],
        "status": ["holds on the grid", "matches", "faster"],
        "reason": ["the constant does not grow < 0.1", "interval reaches", "interval excludes"],
    }
)
# lowtemp's claims table has a note and a premise column; sde's has observed/expected.
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
        "n_points": [2, 5],
        "note": ["hardmax flow does not approach T#mu0", ""],
        "premise_met": [False, True],
        "source": ["derived (docs/mathematics.md)", "P3: Prop. 4"],
        "statement": ["", "P3.phase"],
        "kind": ["sign", "value"],
        "premise": ["the hardmax flow approaches", "none"],
        "status": ["outside the premise", "contradicted"],
        "reason": ["premise: the hardmax flow approaches", "interval excludes the value"],
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
        "observed": ["clusters", "no clusters"],
        "expected": ["clusters", "clusters"],
        "source": ["derived (docs/mathematics.md)"] * 2,
        "statement": ["", ""],
        "kind": ["sign", "sign"],
        "premise": ["none", "none"],
        "status": ["as predicted", "opposite"],
        "reason": ["observed clusters", "observed no clusters, predicted clusters"],
    }
)
STATEMENTS = {"P1.bias": P1_BIAS, "P3.phase": P3_PHASE}


def test_verdict_table_carries_every_claim_over():
    table = verdict_table({"heads": HEADS, "lowtemp": LOWTEMP})
    assert list(table.columns) == COLUMNS
    assert len(table) == len(HEADS) + len(LOWTEMP)
    assert list(table["experiment"]) == ["heads"] * 3 + ["lowtemp"] * 2
    assert list(table["claim"]) == [*HEADS["claim"], *LOWTEMP["claim"]]
    for column in JUDGED:
        assert list(table[column]) == [*HEADS[column], *LOWTEMP[column]], column
    for column in ("predicted", "fitted", "ci_low", "ci_high"):
        expected = pd.concat([HEADS[column], LOWTEMP[column]], ignore_index=True)
        pd.testing.assert_series_equal(table[column], expected, check_names=False)
    # grid coordinates folded into `setting`; NaN coordinates left out, integers without ".0";
    # evidence columns (fine_*, premise_met, observed/expected) are not coordinates
    # and neither are `quantity`/`swept`
    assert table.loc[0, "setting"] == "grid=depth_heads, N=32, beta=1"
    assert table.loc[2, "setting"] == "grid=tokens, beta=0.5"
    assert table.loc[4, "setting"] == "variant=plain, head=identity, time=2.5, beta=inf"
    # columns a table lacks are empty, not invented
    assert list(table["note"]) == ["", "", "", "hardmax flow does not approach T#mu0", ""]
    assert table["n_points"].tolist() == [6, 36, 6, 2, 5]
    sde = verdict_table({"sde": SDE})
    assert list(sde["setting"]) == ["activation=tanh", "activation=relu"]


def test_verdict_table_skips_missing_and_empty_experiments():
    table = verdict_table({"sde": None, "heads": HEADS, "adamw": HEADS.iloc[:0]})
    assert list(table["experiment"]) == ["heads"] * 3
    empty = verdict_table({"sde": None})
    assert list(empty.columns) == COLUMNS and empty.empty


def test_verdict_table_refuses_rows_of_another_experiment():
    with pytest.raises(ValueError, match="claims table of sde holds rows of heads"):
        verdict_table({"sde": HEADS})


def test_read_claims_refuses_a_table_without_statuses(tmp_path):
    path = tmp_path / "claims.csv"
    HEADS.drop(columns=["ci_high", "status"]).to_csv(path, index=False)
    with pytest.raises(ValueError, match="no column ci_high, status"):
        verdicts.read_claims(path)
    HEADS.to_csv(path, index=False)
    assert verdicts.read_claims(path)["status"].tolist() == HEADS["status"].tolist()


def test_every_status_has_a_tone():
    assert set(verdicts.TONES) == set(STATUSES)
    for status, agree in STATUSES.items():
        assert verdicts.tone(status) == {True: "agree", False: "disagree", None: "neutral"}[agree]
    assert verdicts.tone("holds on the grid") == "agree"
    assert verdicts.tone("contradicted") == "disagree"
    assert verdicts.tone("exceeded") == "disagree"
    assert verdicts.tone("unresolved") == "neutral"
    assert verdicts.tone("mixed") == "disagree"
    assert verdicts.tone("no such status") == "neutral"


def test_statement_table_gives_each_statement_its_overall_status():
    table = verdict_table({"heads": HEADS, "lowtemp": LOWTEMP, "sde": SDE})
    lines = verdicts.statement_table(table, STATEMENTS)
    assert list(lines["statement"]) == ["P1.bias", "P3.phase"]
    assert list(lines["paper"]) == ["P1", "P3"]
    assert list(lines["status"]) == ["holds on the grid", "contradicted"]
    assert list(lines["text"]) == [P1_BIAS.text, P3_PHASE.text]
    assert verdicts.overall_status(["matches", "faster"]) == "mixed"
    assert verdicts.overall_status(["outside the premise"] * 2) == "outside the premise"
    assert verdicts.overall_status(["outside the premise", "unresolved"]) == "unresolved"
    assert verdicts.overall_status(["holds on the grid", "contradicted"]) == "contradicted"


def test_status_counts_per_experiment_in_the_configured_order():
    table = verdict_table({"heads": HEADS, "sde": SDE})
    counts = verdicts.status_counts(table, ["sde", "adamw", "heads"])
    assert list(counts.index) == ["sde", "adamw", "heads"]
    assert counts.loc["adamw"].sum() == 0
    assert counts.loc["heads", "holds on the grid"] == 1
    assert counts.loc["heads", "faster"] == 1
    assert counts.loc["sde", "opposite"] == 1 and counts.loc["sde", "as predicted"] == 1


def _claim_rows(page: str) -> dict[str, list[list[str]]]:
    """The cells of every body row of the page's row tables (``<table id="rows-...">``), by id."""
    out = {}
    for anchor, body in re.findall(r'<table id="(rows-[^"]+)">.*?<tbody>(.*?)</tbody>', page, re.S):
        rows = [r for r in body.split("</tr>") if "<td" in r]
        out[anchor] = [re.findall(r"<td[^>]*>(.*?)</td>", row, re.S) for row in rows]
    return out


def _rows(page: str) -> list[list[str]]:
    """Every claim row of the page, whichever section it is in."""
    return [row for rows in _claim_rows(page).values() for row in rows]


def test_verdict_page_shows_every_claim_with_its_values():
    table = verdict_table({"heads": HEADS, "lowtemp": LOWTEMP, "sde": SDE})
    page = verdict_html(table, ["heads", "sde", "adamw", "lowtemp"], STATEMENTS, missing=["adamw"])
    sections = _claim_rows(page)
    assert set(sections) == {"rows-P1.bias", "rows-P3.phase", "rows-heuristic", "rows-derived"}
    assert len(_rows(page)) == len(table)  # every claim once
    (bias,) = sections["rows-P1.bias"]
    assert bias[:3] == ["heads", "bias_L", "bound"]
    assert bias[4:8] == ["-1", "-0.9077", "[-0.9145, -0.9016]", "holds on the grid"]
    assert bias[10] == "6"
    (phase,) = sections["rows-P3.phase"]
    assert phase[:2] == ["lowtemp", "phase"] and phase[5:8] == ["—", "—", "contradicted"]
    assert [r[1] for r in sections["rows-heuristic"]] == ["fluct_H"]
    derived = sections["rows-derived"]
    assert [(r[0], r[1], r[7]) for r in derived] == [
        ("heads", "err_N", "faster"),
        ("lowtemp", "t_star", "outside the premise"),
        ("sde", "cluster", "as predicted"),
        ("sde", "cluster", "opposite"),
    ]
    assert derived[1][4:7] == ["0", "0.71", "—"]
    # a line per statement, linked to its rows, under its paper
    assert "<h3>P1: the papers' statements</h3>" in page
    assert '<a href="#rows-P1.bias">P1.bias: the bias decays like 1/L</a>' in page
    # colour per status
    assert 'class="status tone-agree">holds on the grid<' in page
    assert 'class="status tone-agree">matches<' in page
    assert 'class="status tone-disagree">faster<' in page
    assert 'class="status tone-disagree">contradicted<' in page
    assert 'class="status tone-neutral">outside the premise<' in page
    assert 'class="status tone-agree">as predicted<' in page
    assert 'class="status tone-disagree">opposite<' in page
    # text is escaped
    assert "the constant does not grow &lt; 0.1" in page
    # counts per experiment, in the configured order, the missing one with zeros and named
    counts = page.split("<h3>Statuses per experiment</h3>")[1].split("</tbody>")[0]
    names = re.findall(r"<tr><td>(\w+)</td>", counts)
    assert names == ["heads", "sde", "adamw", "lowtemp"]
    assert "No claims table for: adamw" in page
    # self-contained: no scripts, nothing loaded
    assert "<script" not in page and "http" not in page and "src=" not in page


def test_write_verdicts_handles_a_missing_claims_file(tmp_path):
    heads = tmp_path / "heads" / "claims.csv"
    heads.parent.mkdir()
    HEADS.to_csv(heads, index=False)
    csv, page = tmp_path / "out" / "verdicts.csv", tmp_path / "out" / "verdicts.html"
    paths = {"heads": heads, "sde": tmp_path / "sde" / "claims.csv"}
    table = write_verdicts(paths, csv, page, STATEMENTS)
    assert len(table) == 3
    back = pd.read_csv(csv, keep_default_na=False, na_values=[""])
    assert list(back.columns) == COLUMNS
    assert back["fitted"].tolist() == HEADS["fitted"].tolist()
    assert back["status"].tolist() == HEADS["status"].tolist()
    text = page.read_text()
    assert "No claims table for: sde" in text and "3 claims checked in 2 experiment(s)" in text
    assert "P1.bias: the bias decays like 1/L" in text


# --- captions ---------------------------------------------------------------------------------

REPORT_DIR = REPO / "workflow" / "report"
REGISTRY = registered()


# Snakemake appends a link target per category (and per result) to every caption.
LINKS = "\n\n.. _Verdicts: javascript:app.showCategory('Verdicts')\n"


def _render(caption: Path, files: list, insertion: bool = False, **snakemake_attrs) -> str:
    """A caption as ``snakemake --report`` renders it; warnings and errors raise."""
    config = {
        "experiments": ["heads", "sde"],
        "report_captions": {
            n: {"tables": dict(e.tables), "figures": dict(e.figures)} for n, e in REGISTRY.items()
        },
    }
    text = jinja2.Template(caption.read_text() + LINKS, undefined=jinja2.StrictUndefined).render(
        snakemake=SimpleNamespace(config=config, **snakemake_attrs), files=files, categories={}
    )
    overrides = {"halt_level": 2, "report_level": 5, "file_insertion_enabled": insertion}
    return publish_parts(text, writer="html", settings_overrides=overrides)["html_body"]


def _items():
    """(template, experiment, item) of every table and figure of every registered experiment."""
    out = []
    for name, experiment in REGISTRY.items():
        out += [("table.rst", name, item) for item in experiment.tables]
        out += [("figure.rst", name, item) for item in experiment.figures]
    return out


@pytest.mark.parametrize("caption", ["verdicts_csv.rst", "verdicts_html.rst", "workflow.rst"])
def test_caption_renders_without_warnings(caption):
    assert _render(REPORT_DIR / caption, files=[]).strip()


@pytest.mark.parametrize(("template", "experiment", "item"), _items())
def test_every_item_caption_renders_without_warnings(template, experiment, item):
    caption = (
        REGISTRY[experiment].tables if template == "table.rst" else REGISTRY[experiment].figures
    )
    body = _render(
        REPORT_DIR / template,
        files=[],
        params=SimpleNamespace(experiment=experiment),
        wildcards=SimpleNamespace(item=item),
    )
    text = " ".join(body.split())
    assert f'<tt class="docutils literal">{experiment}</tt>' in text
    assert f'<tt class="docutils literal">{item}</tt>' in text
    # the declared caption is in the rendered text (its first words)
    first = " ".join(caption[item].split()[:2])
    assert first and first in text, (experiment, item)


def test_landing_page_embeds_the_verdict_page(tmp_path):
    heads = tmp_path / "claims.csv"
    HEADS.to_csv(heads, index=False)
    page = tmp_path / "verdicts.html"
    write_verdicts({"heads": heads}, tmp_path / "verdicts.csv", page, STATEMENTS)
    record = SimpleNamespace(target="verdicts.html", path=page)
    landing = _render(REPORT_DIR / "workflow.rst", files=[record], insertion=True)
    assert 'class="attnlimits-verdicts"' in landing
    assert len(_rows(landing)) == len(HEADS)
    assert "not part of this report" not in landing
    without = _render(REPORT_DIR / "workflow.rst", files=[])
    assert "attnlimits-verdicts" not in without and "not part of this report" in without


@pytest.mark.parametrize("experiment", sorted(REGISTRY))
def test_every_table_and_figure_has_a_caption(experiment):
    declared = REGISTRY[experiment]
    assert "claims" in declared.tables
    assert declared.figures
    for item, caption in {**declared.tables, **declared.figures}.items():
        assert re.fullmatch(r"\w+", item), item  # the report's {item} wildcard
        assert isinstance(caption, str) and caption.strip(), item


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
def report(tiny_run):
    """The report of the session's run of config/test.yaml (conftest.py; it adds report.html)."""
    snakemake(tiny_run, "--report", "report.html")
    return tiny_run, (tiny_run / "report.html").read_text(encoding="utf-8")


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
    # every figure and table the experiment declares, and nothing else
    heads = registered()["heads"]
    assert {Path(p).stem for p in plots} == set(heads.figures)
    assert {Path(t).stem for t in tables} == set(heads.tables)
    assert set(names) == {*plots, *tables, "verdicts.csv", "verdicts.html"}
    for name, entry in names.items():
        assert entry["caption"].strip(), name
        data = base64.b64decode(entry["data_uri"].split(",", 1)[1])
        assert data == (repo / "results" / name).read_bytes(), name
    categories = _script_value(page, "categories")
    assert set(categories) == {"heads", "Verdicts"}


@pytest.mark.slow
def test_report_landing_page_shows_every_status(report):
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

    def interval(low, high):
        return "—" if pd.isna(low) and pd.isna(high) else f"[{number(low)}, {number(high)}]"

    # the page groups rows by statement and source: compare as multisets
    shown = sorted((r[1], r[4], r[5], r[6], r[7]) for r in rows)
    expected = sorted(
        (c["claim"], number(c["predicted"]), number(c["fitted"]),
         interval(c["ci_low"], c["ci_high"]), c["status"])
        for _, c in claims.iterrows()
    )  # fmt: skip
    assert shown == expected

"""The verdict page of a run: every judged claim of every configured experiment, by paper.

Each experiment's fit writes ``<results>/<experiment>/tables/claims.csv``: one row per checked
claim and setting, judged by :mod:`attnlimits.analysis.claims` (columns ``source``,
``statement``, ``kind``, ``premise``, ``status``, ``reason``). :func:`verdict_table` stacks those
tables with a fixed set of columns, the grid coordinates folded into one ``setting`` text;
:func:`statement_table` gives one line per paper's statement with its overall status;
:func:`verdict_html` renders a page (no scripts, nothing loaded) with one section per paper, a
line per statement linking to its rows, then the heuristics and the predictions derived here,
apart. The same page is the landing page of ``snakemake --report`` (``workflow/report/
workflow.rst`` embeds it): it is written so that it can be inserted into another page as is.
"""

from __future__ import annotations

import html
import math
import numbers
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from attnlimits.analysis.claims import CONTRADICTED, OUTSIDE, STATUSES, UNRESOLVED

#: Columns every judged claims table must have.
REQUIRED_COLUMNS = (
    "claim", "predicted", "fitted", "ci_low", "ci_high", "source", "statement", "kind",
    "premise", "status", "reason",
)  # fmt: skip
#: Columns of a claims table that are not grid coordinates (the rest make up ``setting``).
RESULT_COLUMNS = (
    "experiment", *REQUIRED_COLUMNS, "n_points", "n_excluded", "note", "fine_slope", "fine_low",
    "fine_high", "premise_met", "resolved", "observed", "expected", "quantity", "swept",
)  # fmt: skip
#: The columns of the verdict table, in order.
COLUMNS = [
    "experiment", "claim", "source", "statement", "kind", "setting", "predicted", "fitted",
    "ci_low", "ci_high", "status", "reason", "premise", "n_points", "note",
]  # fmt: skip
#: Order of the statuses in counts, and the tone (colour) of each.
TONES = {
    status: ("agree" if agree else "disagree" if agree is False else "neutral")
    for status, agree in STATUSES.items()
}
#: Background and text colour of each tone.
COLOURS = {
    "agree": ("#dcfce7", "#14532d"),
    "disagree": ("#fee2e2", "#7f1d1d"),
    "neutral": ("#f1f5f9", "#334155"),
}
#: The CSS class of the page's outermost element (the report's landing page looks for it).
PAGE_CLASS = "attnlimits-verdicts"


def read_claims(path: str | Path) -> pd.DataFrame:
    """An experiment's ``claims.csv``; raises ValueError naming the file if a column is missing."""
    frame = pd.read_csv(path, keep_default_na=True)
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: not a claims table, no column {', '.join(missing)}")
    return frame


def load_claims(paths: Mapping[str, str | Path | None]) -> dict[str, pd.DataFrame | None]:
    """Experiment → its claims table; ``None`` where the path is ``None`` or the file is absent."""
    return {
        name: read_claims(path) if path is not None and Path(path).is_file() else None
        for name, path in paths.items()
    }


def _missing(value: Any) -> bool:
    if value is None or value is pd.NA:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def format_value(value: Any) -> str:
    """A coordinate or number as short text: integers without ``.0``, others to 4 digits."""
    if _missing(value):
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, numbers.Real):
        number = float(value)
        if math.isfinite(number) and number == round(number) and abs(number) < 1e15:
            return str(int(number))
        return f"{number:.4g}"
    return str(value)


def setting(row: Mapping[str, Any], columns: Sequence[str]) -> str:
    """``name=value`` for each of ``columns`` that ``row`` has a value for, comma-separated."""
    return ", ".join(
        f"{column}={format_value(row[column])}" for column in columns if not _missing(row[column])
    )


def verdict_table(claims: Mapping[str, pd.DataFrame | None]) -> pd.DataFrame:
    """One row per judged claim of every experiment (in the order of ``claims``), with
    :data:`COLUMNS`; ``setting`` folds the grid coordinates of the claims table (every column not
    in :data:`RESULT_COLUMNS`). An experiment whose table is ``None`` (not found) or empty
    contributes no rows. Raises ValueError if a table names another experiment."""
    parts = []
    for name, frame in claims.items():
        if frame is None or frame.empty:
            continue
        if "experiment" in frame.columns:
            others = set(frame["experiment"].dropna().astype(str)) - {name}
            if others:
                raise ValueError(
                    f"claims table of {name} holds rows of {', '.join(sorted(others))}"
                )
        coordinates = [c for c in frame.columns if c not in RESULT_COLUMNS]
        part = pd.DataFrame({"experiment": name, "claim": frame["claim"].astype(str)})
        part["setting"] = [setting(row, coordinates) for _, row in frame.iterrows()]
        for column in ("predicted", "fitted", "ci_low", "ci_high"):
            part[column] = pd.to_numeric(frame[column], errors="coerce")
        for column in ("source", "statement", "kind", "status", "reason", "premise", "note"):
            part[column] = frame[column].fillna("").astype(str) if column in frame else ""
        part["n_points"] = (
            pd.to_numeric(frame["n_points"], errors="coerce").astype("Int64")
            if "n_points" in frame
            else pd.array([pd.NA] * len(frame), dtype="Int64")
        )
        parts.append(part[COLUMNS])
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in COLUMNS})
    return pd.concat(parts, ignore_index=True)


def overall_status(statuses: Sequence[str]) -> str:
    """One status for a statement from its rows' statuses: contradicted if any row is; else
    holds (or matches, …) when every row that resolves agrees; outside the premise or
    unresolved when no row resolves."""
    statuses = list(statuses)
    if CONTRADICTED in statuses:
        return CONTRADICTED
    resolved = [s for s in statuses if STATUSES.get(s) is not None]
    if not resolved:
        return OUTSIDE if statuses and all(s == OUTSIDE for s in statuses) else UNRESOLVED
    agreeing = [s for s in resolved if STATUSES[s]]
    if len(agreeing) == len(resolved):
        return max(set(agreeing), key=agreeing.count)
    return "mixed"


def statement_table(table: pd.DataFrame, statements: Mapping[str, Any]) -> pd.DataFrame:
    """One line per paper's statement that has rows in ``table``: paper, statement id, its
    words, its overall status and the count of rows per status."""
    rows = []
    for sid, group in table[table["statement"] != ""].groupby("statement", sort=False):
        st = statements.get(sid)
        counts = group["status"].value_counts()
        rows.append(
            {
                "paper": st.paper if st else sid.split(".")[0],
                "statement": sid,
                "text": st.text if st else "",
                "status": overall_status(group["status"]),
                "rows": len(group),
                "counts": ", ".join(f"{n} {s}" for s, n in counts.items()),
            }
        )
    return pd.DataFrame(rows, columns=["paper", "statement", "text", "status", "rows", "counts"])


def tone(status: str) -> str:
    """The colour key (:data:`COLOURS`) of a status."""
    return TONES.get(status, "disagree" if status == "mixed" else "neutral")


def status_counts(table: pd.DataFrame, experiments: Sequence[str]) -> pd.DataFrame:
    """Number of claims per experiment (rows, in the given order) and status (columns)."""
    counts = pd.crosstab(table["experiment"], table["status"]) if len(table) else pd.DataFrame()
    known = [v for v in TONES if v in counts.columns]
    counts = counts.reindex(index=list(experiments), columns=known, fill_value=0)
    counts.columns.name = None
    counts.index.name = "experiment"
    return counts.fillna(0).astype(int)


def _number(value: Any) -> str:
    return "—" if _missing(value) else f"{float(value):.4g}"


def _interval(low: Any, high: Any) -> str:
    if _missing(low) and _missing(high):
        return "—"
    return f"[{_number(low)}, {_number(high)}]"


_CSS = f"""
.{PAGE_CLASS} {{ font-family: system-ui, sans-serif; font-size: 13px; color: #0f172a; }}
.{PAGE_CLASS} h2 {{ font-size: 18px; margin: 0.5em 0; }}
.{PAGE_CLASS} p {{ margin: 0.4em 0; }}
.{PAGE_CLASS} table {{ border-collapse: collapse; margin: 0.6em 0 1em; width: auto; }}
.{PAGE_CLASS} th, .{PAGE_CLASS} td {{
  border: 1px solid #cbd5e1; padding: 2px 6px; text-align: left; vertical-align: top;
}}
.{PAGE_CLASS} th {{ background: #e2e8f0; color: #0f172a; }}
.{PAGE_CLASS} td.num {{ text-align: right; white-space: nowrap; }}
.{PAGE_CLASS} td.setting {{ font-size: 11px; color: #334155; max-width: 34em; }}
.{PAGE_CLASS} td.note {{ font-size: 11px; color: #475569; max-width: 24em; }}
.{PAGE_CLASS} h3 {{ font-size: 15px; margin: 0.8em 0 0.3em; }}
.{PAGE_CLASS} .missing {{ color: #7f1d1d; }}
""" + "".join(
    f".{PAGE_CLASS} .tone-{key} {{ background: {bg}; color: {fg}; font-weight: 600; }}\n"
    for key, (bg, fg) in COLOURS.items()
)
# In the report's landing page the page sits in a narrow text column beside the rule graph, in a
# box centred vertically (whose top, when taller than the window, cannot be scrolled to): widen
# the column to the table, put the rule graph below it, align the box to the top and let it take
# only the room the menu leaves (it scrolls sideways), so that the menu keeps its width.
_LANDING_CSS = f"""
.prose:has(.{PAGE_CLASS}) {{ max-width: none; }}
div:has(> div > .prose .{PAGE_CLASS}) {{ flex-wrap: wrap; }}
div:has(> div > div > .prose .{PAGE_CLASS}) {{
  align-items: start; justify-content: start; flex-basis: 0; min-width: 0;
}}
"""


def _cell(text: str, cls: str = "") -> str:
    attr = f' class="{cls}"' if cls else ""
    return f"<td{attr}>{html.escape(text)}</td>"


def _rows_table(rows: pd.DataFrame, anchor: str) -> list[str]:
    headers = [
        "experiment", "claim", "kind", "setting", "predicted", "fitted", "interval", "status",
        "reason", "premise", "points", "note",
    ]  # fmt: skip
    out = [f'<table id="{html.escape(anchor)}"><thead><tr>']
    out += [f"<th>{h}</th>" for h in headers]
    out.append("</tr></thead><tbody>")
    for _, row in rows.iterrows():
        status = str(row["status"])
        cells = [
            _cell(str(row["experiment"])),
            _cell(str(row["claim"])),
            _cell(str(row["kind"])),
            _cell(str(row["setting"]), "setting"),
            _cell(_number(row["predicted"]), "num"),
            _cell(_number(row["fitted"]), "num"),
            _cell(_interval(row["ci_low"], row["ci_high"]), "num"),
            _cell(status, f"status tone-{tone(status)}"),
            _cell(str(row["reason"]), "note"),
            _cell(str(row["premise"]), "note"),
            _cell(format_value(row["n_points"]), "num"),
            _cell(str(row["note"]), "note"),
        ]
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    return out


def verdict_html(
    table: pd.DataFrame,
    experiments: Sequence[str],
    statements: Mapping[str, Any] | None = None,
    missing: Sequence[str] = (),
    title: str = "Do the theorems hold? Verdicts of the checked claims",
) -> str:
    """An HTML page: one section per paper (a line per statement with its overall status, linked
    to its rows), then the heuristics and the predictions derived here, apart; and the count of
    statuses per experiment. ``experiments`` are the configured ones (in order), ``missing``
    those whose claims table was not found."""
    statements = statements or {}
    lines = statement_table(table, statements)
    counts = status_counts(table, experiments)
    out = [
        "<!DOCTYPE html>",
        '<meta charset="utf-8">',
        f"<title>{html.escape(title)}</title>",
        f"<style>{_CSS}{_LANDING_CSS}</style>",
        f'<section class="{PAGE_CLASS}">',
        f"<h2>{html.escape(title)}</h2>",
        f"<p>{len(table)} claims checked in {len(experiments)} experiment(s): "
        f"{html.escape(', '.join(experiments)) or 'none'}. A <b>bound</b> (error ≤ C·rate) "
        "<i>holds on the grid</i> when C does not grow towards the fine end; a <b>rate</b> "
        "<i>matches</i>, is <i>faster</i> or <i>slower</i>; a <b>sign</b> or <b>value</b> is "
        "<i>as predicted</i> / <i>matches</i>. <i>Contradicted</i> is said only of a paper's "
        "statement, inside its premise, on data the numerics resolve; <i>outside the "
        "premise</i> and <i>unresolved</i> (with the reason) count for nothing.</p>",
    ]
    if missing:
        out.append(
            '<p class="missing">No claims table for: '
            f"{html.escape(', '.join(missing))} (the experiment's fit did not run).</p>"
        )
    for paper, group in lines.groupby("paper", sort=True):
        out.append(f"<h3>{html.escape(str(paper))}: the papers' statements</h3>")
        out.append("<table><thead><tr><th>statement</th><th>status</th><th>rows</th>")
        out.append("<th>by status</th></tr></thead><tbody>")
        for _, line in group.iterrows():
            anchor = f"rows-{line['statement']}"
            words = f"{line['statement']}: {line['text']}"
            out.append(
                "<tr>"
                + f'<td><a href="#{html.escape(anchor)}">{html.escape(words)}</a></td>'
                + _cell(str(line["status"]), f"status tone-{tone(str(line['status']))}")
                + _cell(str(line["rows"]), "num")
                + _cell(str(line["counts"]), "note")
                + "</tr>"
            )
        out.append("</tbody></table>")
    out.append("<h3>Statuses per experiment</h3><table><thead><tr><th>experiment</th>")
    out += [f"<th>{html.escape(v)}</th>" for v in counts.columns]
    out.append("<th>claims</th></tr></thead><tbody>")
    for name, row in counts.iterrows():
        cells = [_cell(str(name))]
        cells += [
            _cell(str(row[v]), "num" + (f" tone-{tone(v)}" if row[v] else ""))
            for v in counts.columns
        ]
        cells.append(_cell(str(int(row.sum())), "num"))
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    for sid, rows in table[table["statement"] != ""].groupby("statement", sort=False):
        out.append(f"<h3>Rows of {html.escape(str(sid))}</h3>")
        out += _rows_table(rows, f"rows-{sid}")
    for source, heading in (("heuristic", "Heuristics"), ("derived", "Predictions derived here")):
        rows = table[table["source"].str.startswith(source)]
        if len(rows):
            out.append(f"<h3>{heading} (not the papers' statements)</h3>")
            out += _rows_table(rows, f"rows-{source}")
    out.append("</section>")
    return "\n".join(out) + "\n"


def write_verdicts(
    paths: Mapping[str, str | Path | None],
    csv: str | Path,
    page: str | Path,
    statements: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """Read the claims tables ``paths`` (experiment → claims.csv, in the configured order),
    write the verdict table to ``csv`` and its page to ``page``; return the table.
    ``statements`` (id → :class:`attnlimits.analysis.claims.Statement`) give the words of each
    paper's statement."""
    claims = load_claims(paths)
    table = verdict_table(claims)
    missing = [name for name, frame in claims.items() if frame is None]
    for path in (csv, page):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(csv, index=False)
    html_page = verdict_html(table, list(paths), statements, missing)
    Path(page).write_text(html_page, encoding="utf-8")
    return table


def declared_statements(claims: Sequence[Any]) -> dict[str, Any]:
    """Statement id → statement, of every declared claim that has one."""
    return {c.statement.id: c.statement for c in claims if c.statement is not None}

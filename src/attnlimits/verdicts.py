"""The verdict table of a run: every claim of every configured experiment, on one page.

Each experiment's fit writes ``<results>/<experiment>/tables/claims.csv`` with one row per checked
claim (its ``claims`` module says which): the claim, the grid coordinates it was checked on, the
predicted rate, the fitted one with its interval ``[ci_low, ci_high]`` and the verdict, and for
most experiments the target (the tolerance a claim is held to) and whether it was met.

:func:`verdict_table` stacks those tables into one with a fixed set of columns, the grid
coordinates folded into one ``setting`` text; :func:`verdict_html` renders it as a small HTML
page (no scripts, no external resources) with a count of the verdicts per experiment and a colour
per verdict. The same page is the landing page of ``snakemake --report`` (``workflow/report/
workflow.rst`` embeds it): it is written so that it can also be inserted into another page as is.
"""

from __future__ import annotations

import html
import math
import numbers
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

#: Columns every claims table must have.
REQUIRED_COLUMNS = ("claim", "predicted", "fitted", "ci_low", "ci_high", "verdict")
#: Columns of a claims table that are not grid coordinates (the rest make up ``setting``).
RESULT_COLUMNS = (
    "experiment", *REQUIRED_COLUMNS, "target", "target_met", "n_points", "n_excluded", "note",
)  # fmt: skip
#: The columns of the verdict table, in order.
COLUMNS = [
    "experiment", "claim", "setting", "predicted", "fitted", "ci_low", "ci_high", "verdict",
    "target", "target_met", "n_points", "note",
]  # fmt: skip
#: Tone (colour) of a verdict of a rate claim; other verdicts (observations such as
#: ``clusters``) take theirs from ``target_met``.
TONES = {
    "consistent": "consistent",
    "sharper": "sharper",
    "violated": "violated",
    "undetermined": "neutral",
    "not applicable": "neutral",
}
#: Background and text colour of each tone.
COLOURS = {
    "consistent": ("#dcfce7", "#14532d"),
    "sharper": ("#dbeafe", "#1e3a8a"),
    "violated": ("#fee2e2", "#7f1d1d"),
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


def _target_met(value: Any) -> bool | None:
    if _missing(value):
        return None
    if isinstance(value, str):
        return {"true": True, "false": False}.get(value.strip().lower())
    return bool(value)


def verdict_table(claims: Mapping[str, pd.DataFrame | None]) -> pd.DataFrame:
    """One row per claim of every experiment (in the order of ``claims``) with :data:`COLUMNS`.

    ``predicted``, ``fitted``, ``ci_low``, ``ci_high`` and ``verdict`` are carried over as they
    are; ``setting`` folds the grid coordinates of the claims table (every column not in
    :data:`RESULT_COLUMNS`); ``target``, ``target_met``, ``n_points`` and ``note`` are empty where
    an experiment's table has no such column. An experiment whose table is ``None`` (not found)
    or empty contributes no rows. Raises ValueError if a table names another experiment.
    """
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
        part = pd.DataFrame(
            {
                "experiment": name,
                "claim": frame["claim"].astype(str),
                "setting": [setting(row, coordinates) for _, row in frame.iterrows()],
                **{c: pd.to_numeric(frame[c], errors="coerce") for c in REQUIRED_COLUMNS[1:5]},
                "verdict": frame["verdict"].astype(str),
            }
        )
        for column in ("target", "note"):
            part[column] = frame[column].fillna("").astype(str) if column in frame else ""
        met = frame["target_met"] if "target_met" in frame else pd.Series([None] * len(frame))
        part["target_met"] = pd.array([_target_met(v) for v in met], dtype="boolean")
        part["n_points"] = (
            pd.to_numeric(frame["n_points"], errors="coerce").astype("Int64")
            if "n_points" in frame
            else pd.array([pd.NA] * len(frame), dtype="Int64")
        )
        parts.append(part[COLUMNS])
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in COLUMNS})
    return pd.concat(parts, ignore_index=True)


def tone(verdict: str, target_met: Any = None) -> str:
    """The colour key (:data:`COLOURS`) of a verdict: by name for the verdicts of rate claims
    (:data:`TONES`), else by whether the target was met (observations)."""
    if verdict in TONES:
        return TONES[verdict]
    met = _target_met(target_met)
    if met is None:
        return "neutral"
    return "consistent" if met else "violated"


def verdict_counts(table: pd.DataFrame, experiments: Sequence[str]) -> pd.DataFrame:
    """Number of claims per experiment (rows, in the given order) and verdict (columns)."""
    counts = pd.crosstab(table["experiment"], table["verdict"]) if len(table) else pd.DataFrame()
    known = [v for v in TONES if v in counts.columns]
    others = sorted(c for c in counts.columns if c not in TONES)
    counts = counts.reindex(index=list(experiments), columns=known + others, fill_value=0)
    counts.columns.name = None
    counts.index.name = "experiment"
    return counts.fillna(0).astype(int)


def _number(value: Any) -> str:
    return "—" if _missing(value) else f"{float(value):.4g}"


def _interval(low: Any, high: Any) -> str:
    if _missing(low) and _missing(high):
        return "—"
    return f"[{_number(low)}, {_number(high)}]"


def _met(value: Any) -> str:
    met = _target_met(value)
    return "—" if met is None else ("yes" if met else "no")


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


def verdict_html(
    table: pd.DataFrame,
    experiments: Sequence[str],
    missing: Sequence[str] = (),
    title: str = "Verdicts of the checked claims",
) -> str:
    """An HTML page with a verdict count per experiment and one row per claim of ``table``.

    ``experiments`` are the configured ones (in order), ``missing`` those whose claims table was
    not found. The page has no scripts and loads nothing; its markup is one ``<section>`` (with a
    ``<style>``) after the ``<!DOCTYPE>``, ``<meta>`` and ``<title>``, so it can be inserted
    into another page as it is.
    """
    counts = verdict_counts(table, experiments)
    verdicts = list(counts.columns)
    out = [
        "<!DOCTYPE html>",
        '<meta charset="utf-8">',
        f"<title>{html.escape(title)}</title>",
        f"<style>{_CSS}{_LANDING_CSS}</style>",
        f'<section class="{PAGE_CLASS}">',
        f"<h2>{html.escape(title)}</h2>",
        f"<p>{len(table)} claims checked in {len(experiments)} experiment(s): "
        f"{html.escape(', '.join(experiments)) or 'none'}. "
        "<b>predicted</b>: the rate a theorem predicts; <b>fitted</b>: the rate fitted to the "
        "simulations, with its bootstrap interval; <b>verdict</b>: the interval against the "
        "prediction (consistent: it contains the prediction; sharper: faster than predicted; "
        "violated: slower); <b>target</b>: the tolerance the claim is held to, and whether the "
        "fit met it.</p>",
    ]
    if missing:
        out.append(
            '<p class="missing">No claims table for: '
            f"{html.escape(', '.join(missing))} (the experiment's fit did not run).</p>"
        )
    out.append("<table><thead><tr><th>experiment</th>")
    out += [f"<th>{html.escape(v)}</th>" for v in verdicts]
    out.append("<th>claims</th></tr></thead><tbody>")
    for name, row in counts.iterrows():
        cells = [_cell(str(name))]
        cells += [
            _cell(str(row[v]), "num" + (f" tone-{tone(v)}" if row[v] else "")) for v in verdicts
        ]
        cells.append(_cell(str(int(row.sum())), "num"))
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    headers = [
        "experiment", "claim", "setting", "predicted", "fitted", "interval", "verdict", "target",
        "target met", "points", "note",
    ]  # fmt: skip
    out.append("<table><thead><tr>")
    out += [f"<th>{h}</th>" for h in headers]
    out.append("</tr></thead><tbody>")
    for _, row in table.iterrows():
        verdict = str(row["verdict"])
        cells = [
            _cell(str(row["experiment"])),
            _cell(str(row["claim"])),
            _cell(str(row["setting"]), "setting"),
            _cell(_number(row["predicted"]), "num"),
            _cell(_number(row["fitted"]), "num"),
            _cell(_interval(row["ci_low"], row["ci_high"]), "num"),
            _cell(verdict, f"verdict tone-{tone(verdict, row['target_met'])}"),
            _cell(str(row["target"])),
            _cell(_met(row["target_met"])),
            _cell(format_value(row["n_points"]), "num"),
            _cell(str(row["note"]), "note"),
        ]
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table></section>")
    return "\n".join(out) + "\n"


def write_verdicts(
    paths: Mapping[str, str | Path | None], csv: str | Path, page: str | Path
) -> pd.DataFrame:
    """Read the claims tables ``paths`` (experiment → claims.csv, in the configured order),
    write the verdict table to ``csv`` and its page to ``page``; return the table."""
    claims = load_claims(paths)
    table = verdict_table(claims)
    missing = [name for name, frame in claims.items() if frame is None]
    for path in (csv, page):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(csv, index=False)
    Path(page).write_text(verdict_html(table, list(paths), missing), encoding="utf-8")
    return table

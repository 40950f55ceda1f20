"""Rows of the result tables shared by every experiment."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

#: Style of a table's page: readable in the report's frame and in a browser on its own.
_TABLE_CSS = (
    "body{font-family:system-ui,sans-serif;font-size:13px;margin:8px}"
    "table{border-collapse:collapse}th,td{border:1px solid #d0d7de;padding:2px 6px}"
    "th{background:#eef2f7;position:sticky;top:0}td{text-align:right}"
    "td:first-child,th:first-child{text-align:left}tr:nth-child(even) td{background:#f8fafc}"
)


def line_rows(
    keys: Mapping[str, Any],
    quantity: str,
    swept: str,
    fit: str,
    x: Sequence[float],
    y: Sequence[float],
    y_low: Sequence[float],
    y_high: Sequence[float],
) -> list[dict[str, Any]]:
    """Rows of the ``lines`` table: a fitted line (x, y) and its band [y_low, y_high]."""
    return [
        {**keys, "quantity": quantity, "swept": swept, "fit": fit, "x": xj, "y": yj,
         "y_low": lo, "y_high": hi}
        for xj, yj, lo, hi in zip(x, y, y_low, y_high, strict=True)
    ]  # fmt: skip


def table_page(frame: pd.DataFrame, title: str, floatfmt: str = ".4g") -> str:
    """A self-contained HTML page of ``frame`` (numbers to ``floatfmt``, missing values as —),
    for the report, where a CSV can only be downloaded."""
    body = frame.to_html(
        index=False, na_rep="—", float_format=lambda v: format(v, floatfmt), border=0
    )
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{_TABLE_CSS}</style></head><body><h3>{html.escape(title)}</h3>"
        f"<p>{len(frame)} rows</p>{body}</body></html>\n"
    )


def write_tables(
    tables: Mapping[str, pd.DataFrame], outdir: str | Path, floatfmt: str = ".4g"
) -> list[Path]:
    """Write each table as ``<name>.csv`` (full precision), ``<name>.md`` and ``<name>.html``
    (numbers to ``floatfmt``; the page is what the report shows) under ``outdir``."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, frame in tables.items():
        csv, md, page = (outdir / f"{name}.{ext}" for ext in ("csv", "md", "html"))
        frame.to_csv(csv, index=False)
        md.write_text(frame.to_markdown(index=False, floatfmt=floatfmt) + "\n", encoding="utf-8")
        page.write_text(table_page(frame, name, floatfmt), encoding="utf-8")
        paths += [csv, md, page]
    return paths

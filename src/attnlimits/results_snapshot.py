"""The values of a run that the results pages quote, looked up by address.

An address names one value of a finished run:

- ``<experiment>/<table>[col=value, ...].column``: the cell ``column`` of the one row of
  ``<results>/<experiment>/tables/<table>.csv`` whose cells equal the given values (numbers
  compare as numbers, so ``H=1024`` matches ``1024.0``; ``col=`` matches an empty cell;
  ``col~text`` matches a cell containing ``text``; a value holding a comma is quoted,
  ``status="holds, not sharp"``); ``verdicts[...]`` reads
  ``<results>/verdicts.csv``. No row, or more than one, is an error naming the address.
  A table that an experiment keeps beside its tables (``sde/exponents``) is read from
  ``<results>/<experiment>/<table>/<table>.csv``.
- ``min(...)``, ``max(...)``, ``maxabs(...)`` (the largest absolute value) of such a column over
  every matching row, ``count(...)`` of the matching rows (``count(<experiment>/<table>[...])``,
  without a column).
- ``run.<field>``: the run itself: ``jobs`` (jobs finished, the target rule ``all`` left
  out), ``wall_s`` (from the first to the last time stamp of Snakemake's log), ``job_s`` (the
  jobs' wall times summed from the benchmark files), ``date``, ``snakemake``, ``config``,
  ``config_md5``, ``cores`` (from the log's header), ``git_commit``, ``git_dirty`` (recorded in the
  consolidated stores).

A snapshot is the mapping of every address a set of templates uses to its value (a number, a
string, a boolean), built by :func:`build_snapshot` from a results folder and Snakemake's log of
the run, and kept as JSON (:func:`write_snapshot`, :func:`read_snapshot`).
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path

Value = float | int | str | bool | None

_ADDRESS = re.compile(
    r"^(?:(?P<agg>min|max|maxabs|count)\()?"
    r"(?P<source>verdicts|[a-z_0-9]+/[a-z_0-9]+)"
    r"(?:\[(?P<filters>[^\]]*)\])?"
    r"(?:\.(?P<column>[A-Za-z_0-9]+))?"
    r"(?(agg)\))$"
)
_FILTER = re.compile(
    r'\s*(?P<col>[A-Za-z_0-9]+)\s*(?P<op>=|~)\s*(?:"(?P<quoted>[^"]*)"|(?P<value>[^,]*))\s*(?:,|$)'
)
_RUN_FIELDS = (
    "jobs",
    "wall_s",
    "job_s",
    "date",
    "snakemake",
    "config",
    "config_md5",
    "cores",
    "git_commit",
    "git_dirty",
)
_STAMP = re.compile(r"^\[(\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4})\]$")
_HEADER = {
    "date": "Date:",
    "snakemake": "Snakemake version:",
    "config": "Config file(s):",
    "config_md5": "Config MD5:",
    "cores": "Provided cores:",
}


class AddressError(ValueError):
    """An address that is malformed or does not name exactly one value of the run."""


@dataclass(frozen=True)
class Query:
    """A parsed table address: the table, the row filters, the column, the aggregate."""

    source: str
    filters: tuple[tuple[str, str, str], ...]
    column: str | None
    agg: str | None

    def path(self, results: Path) -> Path:
        if self.source == "verdicts":
            return results / "verdicts.csv"
        experiment, table = self.source.split("/")
        path = results / experiment / "tables" / f"{table}.csv"
        beside = results / experiment / table / f"{table}.csv"
        return path if path.is_file() or not beside.is_file() else beside


def parse_address(address: str) -> Query:
    """The :class:`Query` of a table address; :class:`AddressError` if it is malformed."""
    match = _ADDRESS.match(address.strip())
    if not match:
        raise AddressError(f"malformed address {address!r}")
    filters, text = [], match["filters"] or ""
    while text.strip():
        f = _FILTER.match(text)
        if not f:
            raise AddressError(f"malformed filter {text!r} in {address!r}")
        value = f["quoted"] if f["quoted"] is not None else f["value"].strip()
        filters.append((f["col"], f["op"], value))
        text = text[f.end() :]
    agg, column = match["agg"], match["column"]
    if (agg == "count") == (column is not None):
        raise AddressError(f"{address!r}: name a column, or count rows without one")
    return Query(match["source"], tuple(filters), column, agg)


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _matches(cell: str, op: str, value: str) -> bool:
    if op == "~":
        return value in cell
    if cell == value:
        return True
    a, b = _number(cell), _number(value)
    return a is not None and b is not None and (a == b or (math.isnan(a) and math.isnan(b)))


def _typed(cell: str) -> Value:
    if cell == "":
        return None
    if cell in ("True", "False"):
        return cell == "True"
    number = _number(cell)
    if number is None:
        return cell
    return int(number) if re.fullmatch(r"-?\d+", cell) else number


@cache
def _read_table(path: Path) -> tuple[tuple[str, ...], tuple[dict[str, str], ...]]:
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        return tuple(reader.fieldnames or ()), tuple(reader)


def _lookup(query: Query, address: str, results: Path) -> Value:
    path = query.path(results)
    if not path.is_file():
        raise AddressError(f"{address}: no table {path}")
    columns, rows = _read_table(path)
    for col in [c for c, _, _ in query.filters] + [query.column] * (query.column is not None):
        if col not in columns:
            raise AddressError(f"{address}: {path.name} has no column {col!r}")
    found = [r for r in rows if all(_matches(r[c], op, v) for c, op, v in query.filters)]
    if query.agg == "count":
        return len(found)
    if not found:
        raise AddressError(f"{address}: no row of {path.name} matches")
    if query.agg is None:
        if len(found) > 1:
            raise AddressError(f"{address}: {len(found)} rows of {path.name} match, not one")
        return _typed(found[0][query.column])
    values = [v for v in (_number(r[query.column]) for r in found) if v is not None]
    if not values:
        raise AddressError(f"{address}: no number in column {query.column!r}")
    if query.agg == "maxabs":
        return max(abs(v) for v in values)
    return min(values) if query.agg == "min" else max(values)


@cache
def _log_facts(log: Path) -> dict[str, Value]:
    """What a Snakemake log of the run says: its header, the jobs finished, the wall time."""
    lines = log.read_text().splitlines()
    facts: dict[str, Value] = {}
    for key, prefix in _HEADER.items():
        facts[key] = next((ln.split(prefix, 1)[1].strip() for ln in lines if prefix in ln), None)
    finished = [ln for ln in lines if ln.startswith("Finished jobid:")]
    facts["jobs"] = sum("(Rule: all)" not in ln for ln in finished)
    stamps = [
        datetime.strptime(" ".join(m[1].split()), "%a %b %d %H:%M:%S %Y")
        for m in map(_STAMP.match, lines)
        if m
    ]
    start = facts["date"]
    first = datetime.fromisoformat(str(start)) if start else (stamps[0] if stamps else None)
    facts["wall_s"] = (stamps[-1] - first).total_seconds() if stamps and first else None
    return facts


def _job_seconds(results: Path) -> float:
    total = 0.0
    for path in sorted((results / "benchmarks").rglob("*.tsv")):
        with open(path, newline="") as f:
            total += sum(float(r["s"]) for r in csv.DictReader(f, delimiter="\t"))
    return total


@cache
def _git_facts(results: Path) -> dict[str, Value]:
    """The commit and dirty flag recorded in the consolidated stores (the newest one's)."""
    attrs = []
    for path in results.glob("*/statistics.zarr/.zattrs"):
        with open(path) as f:
            attrs.append(json.load(f))
    if not attrs:
        return {"git_commit": None, "git_dirty": None}
    newest = max(attrs, key=lambda a: a.get("created", ""))
    return {"git_commit": newest.get("git_commit"), "git_dirty": newest.get("git_dirty")}


def _run_value(field: str, results: Path, log: Path | None) -> Value:
    if field not in _RUN_FIELDS:
        raise AddressError(f"run.{field}: the run has no such field ({', '.join(_RUN_FIELDS)})")
    if field == "job_s":
        return _job_seconds(results)
    if field.startswith("git_"):
        return _git_facts(results)[field]
    if log is None:
        raise AddressError(f"run.{field} comes from Snakemake's log of the run: give --log")
    return _log_facts(log)[field]


def resolve(address: str, results: str | os.PathLike, log: str | os.PathLike | None) -> Value:
    """The value that ``address`` names in the run of ``results`` (and its Snakemake ``log``)."""
    results = Path(results)
    if address.startswith("run."):
        value = _run_value(address[4:], results, None if log is None else Path(log))
    else:
        value = _lookup(parse_address(address), address, results)
    if value is None:
        raise AddressError(f"{address}: the run has no value there (an empty cell)")
    return value


def build_snapshot(
    addresses: Iterable[str], results: str | os.PathLike, log: str | os.PathLike | None
) -> dict[str, Value]:
    """Every address resolved in the run, sorted by address; the first failure is raised."""
    for read in (_read_table, _log_facts, _git_facts):  # read once per build, not per address
        read.cache_clear()
    return {a: resolve(a, results, log) for a in sorted(set(addresses))}


def write_snapshot(snapshot: dict[str, Value], path: str | os.PathLike) -> None:
    with open(path, "w") as f:
        json.dump(snapshot, f, indent=1, ensure_ascii=False, sort_keys=True)
        f.write("\n")


def read_snapshot(path: str | os.PathLike) -> dict[str, Value]:
    with open(path) as f:
        return json.load(f)

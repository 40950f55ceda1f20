"""``python -m attnlimits pages``: the results pages, rendered from templates and a run's values.

Each page ``docs/results/<name>.md`` is generated from ``docs/results/templates/<name>.md.in``, in
which every number of the run is a placeholder ``{{ address | format }}``: the address names a
value of the run (:mod:`attnlimits.results_snapshot`), the format says how to write it. The
values the templates use are kept in ``docs/results/run.json`` (the snapshot), so the pages can
be rebuilt, and checked, without the run::

    python -m attnlimits pages --results results --log .snakemake/log/<run>.snakemake.log
    python -m attnlimits pages            # re-render from the committed snapshot
    python -m attnlimits pages --check    # exit 1 if a page differs from its rendering

The same command rewrites the claim tables of ``docs/mathematics.md`` from the declarations
(:mod:`attnlimits.claims_doc`), so that one command brings every generated document up to date.

Formats: a Python format spec (``.2f``, ``+.2f``, ``.0f``, ``d``); ``sN`` for N significant
digits without an exponent; a spec ending in ``e`` (``.1e``) writes ``1.6e-4``; the words
``minutes`` (÷ 60), ``percent`` (× 100) and ``abs`` before the spec transform the value first;
the word ``ci`` writes ``value [low, high]`` with the row's ``ci_low`` and ``ci_high`` (the
columns of a fitted exponent), ``interval`` with its ``<column>_low`` and ``<column>_high``.
Negative numbers take the minus sign −. Strings (a claim's status) are written as they are.
A backslash before the braces (``\\{{``) writes them as they are.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from attnlimits import claims_doc
from attnlimits.results_snapshot import (
    AddressError,
    Value,
    build_snapshot,
    read_snapshot,
    write_snapshot,
)

PLACEHOLDER = re.compile(r"(?<!\\)\{\{(.*?)\}\}", re.DOTALL)
_TRANSFORMS = {"minutes": lambda x: x / 60, "percent": lambda x: 100 * x, "abs": abs}
MINUS = "\N{MINUS SIGN}"
DOCS = Path("docs/results")
#: A template's suffix: not ``.md``, so that its links (written for the page) are not read as
#: links of a document of the templates' folder.
SUFFIX = ".md.in"


def placeholders(text: str) -> list[tuple[str, str]]:
    """The (address, format) of every placeholder of a template, in order."""
    found = []
    for body in PLACEHOLDER.findall(text):
        address, _, fmt = body.partition("|")
        found.append((" ".join(address.split()), " ".join(fmt.split())))
    return found


def _bounds(address: str, fmt: str) -> tuple[str, str] | None:
    """The addresses of the interval that ``fmt`` asks to write beside the value, if any."""
    words = fmt.split()
    if "ci" not in words and "interval" not in words:
        return None
    stem, _, column = address.rpartition(".")
    if not stem or address.startswith(("min(", "max(", "count(", "run.")):
        raise AddressError(f"{address}: an interval needs a column of one row")
    low, high = ("ci_low", "ci_high") if "ci" in words else (f"{column}_low", f"{column}_high")
    return f"{stem}.{low}", f"{stem}.{high}"


def expanded(address: str, fmt: str) -> list[str]:
    """The addresses a placeholder reads: its own, and those of its interval if it writes one."""
    return [address, *(_bounds(address, fmt) or ())]


def _significant(x: float, digits: int) -> str:
    if x == 0 or not math.isfinite(x):
        return f"{x:.{digits - 1}f}" if x == 0 else str(x)
    decimals = digits - 1 - math.floor(math.log10(abs(x)))
    return f"{round(x, decimals):.{max(0, decimals)}f}"


def format_value(value: Value, fmt: str) -> str:
    """``value`` written as ``fmt`` says (see the module's docstring)."""
    if isinstance(value, bool) or isinstance(value, str) or value is None:
        if fmt:
            raise ValueError(f"format {fmt!r} given for the non-number {value!r}")
        return str(value)
    words = fmt.split()
    while words and words[0] in _TRANSFORMS:
        value = _TRANSFORMS[words.pop(0)](value)
    spec = " ".join(words)
    if spec.endswith("d") and float(value).is_integer():
        value = int(value)
    if re.fullmatch(r"s\d", spec):
        text = _significant(float(value), int(spec[1:]))
    elif spec.endswith("e"):
        mantissa, exponent = f"{value:{spec}}".split("e")
        return mantissa.replace("-", MINUS) + "e" + str(int(exponent))
    elif spec:
        text = f"{value:{spec}}"
    elif isinstance(value, int):
        text = str(value)
    else:
        raise ValueError(f"the number {value!r} needs a format")
    return text.replace("-", MINUS)


def render(text: str, snapshot: dict[str, Value]) -> str:
    """The template ``text`` with every placeholder replaced by its value in ``snapshot``."""

    def value(match: re.Match) -> str:
        ((address, fmt),) = placeholders(match[0])
        for needed in expanded(address, fmt):
            if needed not in snapshot:
                raise AddressError(f"{needed}: not in the snapshot (rebuild it from the run)")
        bounds = _bounds(address, fmt)
        spec = " ".join(w for w in fmt.split() if w not in ("ci", "interval"))
        text = format_value(snapshot[address], spec)
        if bounds:
            low, high = (format_value(snapshot[b], spec) for b in bounds)
            text += f" [{low}, {high}]"
        return text

    return PLACEHOLDER.sub(value, text).replace("\\{{", "{{")


def templates(docs: Path = DOCS) -> dict[str, str]:
    """The templates ``docs/templates/<name>.md.in``, by page name."""
    paths = sorted((docs / "templates").glob(f"*{SUFFIX}"))
    return {p.name.removesuffix(SUFFIX): p.read_text() for p in paths}


def addresses(docs: Path = DOCS) -> set[str]:
    """Every address the templates use."""
    return {
        a
        for text in templates(docs).values()
        for address, fmt in placeholders(text)
        for a in expanded(address, fmt)
    }


def header(name: str) -> str:
    return (
        f"<!-- Generated from templates/{name}{SUFFIX} and run.json by"
        " `python -m attnlimits pages`; edit the template, not this page. -->\n"
    )


def rendered_pages(docs: Path = DOCS) -> dict[Path, str]:
    """Every page as the templates and the snapshot ``docs/run.json`` render it."""
    snapshot = read_snapshot(docs / "run.json")
    return {
        docs / f"{name}.md": header(name) + render(text, snapshot)
        for name, text in templates(docs).items()
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m attnlimits pages",
        description="Render the results pages from their templates and the run's values, and "
        "the claim tables of docs/mathematics.md from the declarations.",
    )
    parser.add_argument("--results", type=Path, help="rebuild the snapshot from this run folder")
    parser.add_argument("--log", type=Path, help="Snakemake's log of that run (.snakemake/log/)")
    parser.add_argument("--docs", type=Path, default=DOCS, help="the pages' folder (docs/results)")
    parser.add_argument(
        "--mathematics",
        type=Path,
        default=claims_doc.MATHEMATICS,
        help="the page whose claim tables come from the declarations (docs/mathematics.md)",
    )
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 on a change")
    args = parser.parse_args(argv)
    try:
        if args.results is not None:
            snapshot = build_snapshot(addresses(args.docs), args.results, args.log)
            if args.check:
                if snapshot != read_snapshot(args.docs / "run.json"):
                    print(f"{args.docs / 'run.json'} differs from the run", file=sys.stderr)
                    return 1
            else:
                write_snapshot(snapshot, args.docs / "run.json")
        pages = rendered_pages(args.docs)
        pages.update(claims_doc.rendered(args.mathematics))
    except (AddressError, ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    stale = [p for p, text in pages.items() if not p.is_file() or p.read_text() != text]
    if args.check:
        for path in stale:
            print(f"{path} differs from its rendering", file=sys.stderr)
        return 1 if stale else 0
    for path in stale:
        path.write_text(pages[path])
    print(f"{len(pages)} pages, {len(stale)} rewritten")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The generated blocks of ``docs/mathematics.md``: the claims of every registered experiment,
one table per experiment, and the papers' statements they cite, written from the declarations
(``Experiment.claims``) between markers, so that the page cannot drift from the code.

``python -m attnlimits pages`` rewrites them (with the results pages, :mod:`results_pages`);
``--check`` fails when one is stale; ``tests/test_docs_links.py`` checks them too.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from attnlimits.analysis.claims import Claim, Statement
from attnlimits.registry import registered, resolve

#: The page, relative to the repository root (the folder the command runs in).
MATHEMATICS = Path("docs/mathematics.md")
REGENERATE = "python -m attnlimits pages"
CLAIM_COLUMNS = ("claim", "kind", "source", "statement", "premise", "prediction", "tolerance")


def begin_marker(name: str) -> str:
    return f"<!-- {name} (generated from the declarations: {REGENERATE}) -->"


def end_marker(name: str) -> str:
    return f"<!-- end of {name} -->"


def declared_claims() -> dict[str, tuple[Claim, ...]]:
    """Every registered experiment's declared claims, by experiment name."""
    return {name: tuple(resolve(e.claims)) for name, e in registered().items()}


def cell(text: str) -> str:
    """``text`` as the cell of a GitHub markdown table: backslashes, pipes, brackets and stars
    escaped (so that ``[a](b)`` is no link, ``t*`` no emphasis), angle brackets as entities (so
    that ``<a>`` is no tag)."""
    out = text.replace("\\", "\\\\")
    for char in "|[]*":
        out = out.replace(char, "\\" + char)
    return out.replace("<", "&lt;").replace(">", "&gt;").replace("\n", " ")


def tolerance_text(claim: Claim) -> str:
    """The tolerance of a claim as the table shows it: a fit option, a number, or a dash."""
    if isinstance(claim.tolerance, str):
        text = f"`{claim.tolerance}`"
    elif claim.tolerance:
        text = f"{claim.tolerance:g}"
    else:
        return "—"
    return text + (" (relative)" if claim.relative else "")


def claim_row(claim: Claim) -> list[str]:
    return [
        f"`{claim.id}`",
        claim.kind,
        cell(claim.source_text),
        claim.statement.id if claim.statement else "",
        cell(claim.premise.text),
        cell(claim.predicted),
        tolerance_text(claim),
    ]


def table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def claims_block(claims: Sequence[Claim]) -> list[str]:
    """The claims table of one experiment, in declaration order."""
    return table(CLAIM_COLUMNS, (claim_row(c) for c in claims))


def statements_block(claims: Iterable[Claim]) -> list[str]:
    """One row per paper's statement cited by a claim: paper, id, where, the words."""
    found: dict[str, Statement] = {}
    for claim in claims:
        if claim.statement is not None:
            found.setdefault(claim.statement.id, claim.statement)
    rows = (
        [s.paper, f"`{s.id}`", cell(s.where), cell(s.text)]
        for s in sorted(found.values(), key=lambda s: (s.paper, s.id))
    )
    return table(("paper", "statement", "where", "statement, as we read it"), rows)


def expected_blocks() -> dict[str, list[str]]:
    """Every generated block of docs/mathematics.md, by marker name."""
    claims = declared_claims()
    blocks = {f"claims: {name}": claims_block(found) for name, found in claims.items()}
    blocks["statements"] = statements_block(c for found in claims.values() for c in found)
    return blocks


def block_span(lines: Sequence[str], name: str) -> tuple[int, int]:
    """The indices of the begin and end markers of block ``name``; ValueError if absent."""
    try:
        begin = lines.index(begin_marker(name))
        end = lines.index(end_marker(name), begin)
    except ValueError:
        raise ValueError(
            f"no block {name!r} (markers {begin_marker(name)!r} ... {end_marker(name)!r})"
        ) from None
    return begin, end


def written_block(text: str, name: str) -> list[str]:
    """The lines between the markers of block ``name``, blank lines dropped."""
    lines = text.splitlines()
    begin, end = block_span(lines, name)
    return [line for line in lines[begin + 1 : end] if line.strip()]


def rewrite(text: str, blocks: dict[str, list[str]]) -> str:
    """``text`` with every block replaced by its generated lines."""
    lines = text.splitlines()
    for name, block in blocks.items():
        begin, end = block_span(lines, name)
        lines[begin + 1 : end] = block
    return "\n".join(lines) + "\n"


def rendered(path: Path = MATHEMATICS) -> dict[Path, str]:
    """The page at ``path`` with every generated block as the declarations give it."""
    return {path: rewrite(path.read_text(encoding="utf-8"), expected_blocks())}

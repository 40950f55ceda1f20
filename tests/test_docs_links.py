"""The documents of the repository against the code and against each other.

- ``docs/mathematics.md`` lists the claims of every registered experiment in a generated table
  per experiment, and the papers' statements they cite: every declared claim is there with its
  source and kind, no row names a claim that is not declared, and each block is exactly what
  the declarations give (:mod:`attnlimits.claims_doc`, which ``python -m attnlimits pages``
  uses to rewrite them).
- Every relative link of the documents (README.md, config/README.md, docs/**/*.md and the other
  READMEs) names a file that exists, and an anchor (``#...``) into a markdown file names one of
  its headings.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import pytest

from attnlimits.claims_doc import (
    REGENERATE,
    declared_claims,
    expected_blocks,
    written_block,
)
from attnlimits.registry import registered

ROOT = Path(__file__).resolve().parents[1]
MATHEMATICS = ROOT / "docs" / "mathematics.md"
#: The documents whose relative links must resolve (globs from the repository root).
DOCUMENTS = (
    "README.md",
    "config/README.md",
    "docs/**/*.md",
    "workflow/**/*.md",
    "benchmarks/*.md",
)


# --- the generated blocks of docs/mathematics.md ------------------------------------------------


def uncell(text: str) -> str:
    """The text of a table cell written by :func:`cell`."""
    out = text.strip().replace("&lt;", "<").replace("&gt;", ">")
    return re.sub(r"\\(.)", r"\1", out)


def table_rows(block: Sequence[str]) -> list[dict[str, str]]:
    """The rows of a markdown table (header first, separator second) as column → cell text."""
    split = [re.split(r"(?<!\\)\|", line.strip())[1:-1] for line in block]
    header = [h.strip() for h in split[0]]
    return [dict(zip(header, (uncell(c) for c in row), strict=True)) for row in split[2:]]


@pytest.fixture(scope="module")
def mathematics() -> str:
    return MATHEMATICS.read_text(encoding="utf-8")


@pytest.mark.parametrize("name", list(registered()))
def test_every_declared_claim_is_in_its_table(mathematics: str, name: str) -> None:
    """Each claim of the experiment has a row with its source and kind; no row names a claim
    that is not declared."""
    declared = {c.id: c for c in declared_claims()[name]}
    rows = {r["claim"].strip("`"): r for r in table_rows(written_block(mathematics, name_of(name)))}
    assert sorted(set(declared) - set(rows)) == [], f"claims of {name} missing from the table"
    assert sorted(set(rows) - set(declared)) == [], f"rows of {name} naming no declared claim"
    for cid, claim in declared.items():
        assert (rows[cid]["source"], rows[cid]["kind"]) == (claim.source_text, claim.kind), cid


def name_of(experiment: str) -> str:
    return f"claims: {experiment}"


def test_generated_blocks_are_current(mathematics: str) -> None:
    """Every generated block (premises, predictions, tolerances, statements) is exactly what the
    declarations give."""
    stale = [
        name
        for name, block in expected_blocks().items()
        if written_block(mathematics, name) != block
    ]
    assert stale == [], f"stale blocks of {MATHEMATICS.name}: {stale}; run `{REGENERATE}`"


# --- relative links ------------------------------------------------------------------------------

FENCE = re.compile(r"^\s*(```|~~~)")
ESCAPED = re.compile(r"\\.")
INLINE_CODE = re.compile(r"(`+)(?:(?!\1).)+?\1")
INLINE_LINK = re.compile(
    r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*<?([^\s)>]*)>?(?:\s+\"[^\"]*\")?\s*\)"
)
REFERENCE = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$")
HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
HTML_ANCHOR = re.compile(r"<a\s+(?:name|id)=\"([^\"]+)\"", re.IGNORECASE)
SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def prose_lines(text: str) -> list[str]:
    """The lines of a markdown text outside fenced code blocks."""
    out, fence = [], None
    for line in text.splitlines():
        opened = FENCE.match(line)
        if opened and (fence is None or opened.group(1) == fence):
            fence = opened.group(1) if fence is None else None
            continue
        if fence is None:
            out.append(line)
    return out


def links(text: str) -> list[str]:
    """Every link target of a markdown text (inline links, images, reference definitions),
    outside code; an escaped character (``\\[``) starts or ends none."""
    found = []
    for line in prose_lines(text):
        line = ESCAPED.sub("", INLINE_CODE.sub("", line))
        found += INLINE_LINK.findall(line)
        found += REFERENCE.findall(line)
    return found


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: its text lowercased, punctuation dropped, spaces → '-'."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link: its text
    text = re.sub(r"<[^>]+>", "", text).replace("`", "").lower()
    text = "".join(ch for ch in text if ch.isalnum() or ch in "-_ ")
    return text.replace(" ", "-")


def anchors(text: str) -> set[str]:
    """The anchors a markdown text defines: its headings' slugs (repeats get -1, -2, …) and the
    ids and names of its HTML anchors."""
    out: set[str] = set()
    seen: dict[str, int] = {}
    for line in prose_lines(text):
        heading = HEADING.match(line)
        if heading:
            base = slug(heading.group(2))
            count = seen.get(base, 0)
            out.add(base if count == 0 else f"{base}-{count}")
            seen[base] = count + 1
    for line in text.splitlines():
        out.update(HTML_ANCHOR.findall(line))
    return out


def documents(root: Path = ROOT) -> list[Path]:
    """The files of :data:`DOCUMENTS`, less templates (a folder ``templates``: their links are
    relative to the pages rendered from them, checked there)."""
    found = {p for pattern in DOCUMENTS for p in root.glob(pattern) if p.is_file()}
    return sorted(p for p in found if "templates" not in p.relative_to(root).parts[:-1])


def dead_links(document: Path, root: Path = ROOT) -> list[str]:
    """One line per relative link of ``document`` whose file, or anchor, does not exist."""
    text = document.read_text(encoding="utf-8")
    out = []
    for target in links(text):
        if not target or SCHEME.match(target) or target.startswith("//"):
            continue
        path, _, anchor = target.partition("#")
        named = (document.parent / path).resolve() if path else document
        where = f"{document.relative_to(root)}: {target}"
        if not named.exists():
            out.append(f"{where} (no file {path})")
        elif anchor and named.suffix == ".md":
            if anchor not in anchors(named.read_text(encoding="utf-8")):
                out.append(f"{where} (no heading or anchor #{anchor} in {named.name})")
    return out


def test_the_documents_are_found() -> None:
    found = {p.relative_to(ROOT).as_posix() for p in documents()}
    assert {"README.md", "docs/mathematics.md"} <= found


@pytest.mark.parametrize("document", documents(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_relative_links_resolve(document: Path) -> None:
    dead = dead_links(document)
    assert not dead, "dead links:\n" + "\n".join(dead)


def test_dead_links_are_found(tmp_path: Path) -> None:
    """The check itself: a missing file and a missing anchor are reported; code, escaped
    brackets, external links, existing files and headings are not."""
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "other.md").write_text("# A `code` heading: two\n## Again\n## Again\n")
    page = tmp_path / "README.md"
    page.write_text(
        "[ok](docs/other.md) [ok](docs/other.md#a-code-heading-two) [ok](docs/other.md#again-1)\n"
        "[ok](#title) [web](https://example.org/x) `[code](nowhere.md)` m\\[a\\](nowhere.md)\n"
        "```\n[fenced](nowhere.md)\n```\n"
        "# Title\n[dead](missing.md) ![image](docs/none.png) [anchor](docs/other.md#nope)\n"
        "[ref]: docs/gone.md\n"
    )
    found = dead_links(page, tmp_path)
    assert [line.split(": ", 1)[1].split(" ")[0] for line in found] == [
        "missing.md",
        "docs/none.png",
        "docs/other.md#nope",
        "docs/gone.md",
    ]


# --- the workflow catalog's metadata ---------------------------------------------------------

CATALOG = ROOT / ".snakemake-workflow-catalog.yml"


def test_catalog_metadata() -> None:
    """The catalog's "standardized usage" needs workflow/Snakefile, config/README.md and this
    file with its usage keys (the catalog reads usage.mandatory-flags, usage.report and
    usage.software-stack-deployment); every file its text names exists."""
    import yaml

    usage = yaml.safe_load(CATALOG.read_text(encoding="utf-8"))["usage"]
    assert set(usage["mandatory-flags"]) == {"desc", "flags"}
    assert any(usage["software-stack-deployment"].values()), "no way to deploy the software"
    assert isinstance(usage["report"], bool)
    named = re.findall(r"[\w./-]+\.(?:ya?ml|md)\b", usage["mandatory-flags"]["desc"])
    required = ["workflow/Snakefile", "config/README.md", *named]
    missing = [path for path in required if not (ROOT / path).is_file()]
    assert not missing, f"{CATALOG.name}: no file {', '.join(missing)}"

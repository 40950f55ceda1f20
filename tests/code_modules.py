"""The attnlimits modules a module imports, for the tests that a job's code list is complete."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def attnlimits_imports(module: str) -> set[str]:
    """The modules of attnlimits that ``module`` imports (``from attnlimits.heads import errors``
    counts as ``heads.errors``)."""
    src = REPO / "src" / "attnlimits"
    out = set()
    tree = ast.parse((src / Path(*module.split("."))).with_suffix(".py").read_text("utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("attnlimits"):
            parent = node.module.removeprefix("attnlimits").removeprefix(".")
            for alias in node.names:
                sub = f"{parent}.{alias.name}" if parent else alias.name
                is_module = (src / Path(*sub.split("."))).with_suffix(".py").exists()
                out.add(sub if is_module else parent)
    return out


# Bookkeeping around the numerics: not part of a job's code version (as in experiment heads).
INFRASTRUCTURE = {"provenance", "storage", "progress", "runtime", "naming", "grids", "config"}

"""What produced an artifact: code version, parameters, seeds, library versions, time."""

from __future__ import annotations

import ast
import datetime as _dt
import functools
import hashlib
import json
import platform
import subprocess
from collections.abc import Iterable, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from attnlimits.imports import import_closure, module_file

#: Attributes that legitimately differ between two runs of the same configuration.
VOLATILE_ATTRS = ("created",)

_LIBRARIES = ("torch", "numpy", "scipy", "xarray", "zarr", "dask", "snakemake")


def canonical_json(obj: Any) -> str:
    """JSON with sorted keys and no whitespace: equal parameters give equal text."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def params_hash(obj: Any, length: int = 10) -> str:
    """Short SHA-256 of the canonical JSON of ``obj``."""
    return hashlib.sha256(canonical_json(obj).encode()).hexdigest()[:length]


def _strip_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (
            isinstance(body, list)
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            node.body = body[1:] or [ast.Pass()]
    return tree


def source_fingerprint(source: str) -> str:
    """What the code does, not how it is written: the AST without docstrings, comments, layout."""
    return ast.dump(_strip_docstrings(ast.parse(source)), include_attributes=False)


#: Modules that cannot change a number: logging and progress lines, the provenance record itself,
#: configuration loading (its values reach a job through its parameters, which are hashed) and
#: the registry of declarations, and the downstream reading API (``attnlimits.results``, which
#: the package imports lazily). They are left out of every job's code version.
NOT_NUMERICS = frozenset(
    {
        "attnlimits.progress",
        "attnlimits.results",
        "attnlimits.provenance",
        "attnlimits.config",
        "attnlimits.registry",
        "attnlimits.batches",
        "attnlimits.timing",
    }
)


def code_version(entries: Iterable[str], exclude: Iterable[str] = NOT_NUMERICS) -> str:
    """Hash of the code that a job running ``entries`` executes: every module of their
    :func:`import_closure`.

    Goes into a rule's ``params:`` so that editing any module a job runs re-runs that job
    (Snakemake does not track code imported from ``src/``), and editing any other re-runs
    nothing. Comments, docstrings and formatting are not part of it, so they re-run nothing.
    """
    h = hashlib.sha256()
    for name in import_closure(entries, exclude):
        h.update(name.encode())
        h.update(_fingerprint(module_file(name)).encode())
    return h.hexdigest()[:12]


@functools.cache
def _fingerprint(path: Path) -> str:
    return source_fingerprint(path.read_text(encoding="utf-8"))


#: ``git_commit`` of a run whose folder is in no git repository (a deployed workflow, a run
#: outside the clone): its code is then named by ``attnlimits_version`` and ``code_version``.
NO_GIT = "none: the run's folder is in no git repository with a commit (see attnlimits_version)"


def _git(where: Path, *args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args], cwd=where, capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def git_state(where: str | Path | None = None) -> dict[str, str | bool]:
    """The commit checked out in the folder of the run (``where``, by default the working
    directory: the folder Snakemake runs in, where a clone keeps its workflow and code), and
    whether tracked files have uncommitted changes. Outside any git repository (or without
    git), ``git_commit`` says so (:data:`NO_GIT`) and ``git_dirty`` is False."""
    where = Path.cwd() if where is None else Path(where)
    commit = _git(where, "rev-parse", "HEAD")
    if commit is None:
        return {"git_commit": NO_GIT, "git_dirty": False}
    status = _git(where, "status", "--porcelain", "--untracked-files=no") or ""
    return {"git_commit": commit, "git_dirty": bool(status)}


def library_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for lib in _LIBRARIES:
        try:
            out[lib] = metadata.version(lib)
        except metadata.PackageNotFoundError:
            out[lib] = "absent"
    return out


def provenance(params: Mapping[str, Any], seeds: Mapping[str, Any], code: str) -> dict[str, Any]:
    """Attributes recorded on every store (values are strings, numbers or booleans)."""
    try:
        version = metadata.version("attnlimits")
    except metadata.PackageNotFoundError:
        version = "unknown"
    attrs: dict[str, Any] = {
        "attnlimits_version": version,
        "code_version": code,
        "params": canonical_json(params),
        "params_hash": params_hash(params),
        "seeds": canonical_json(seeds),
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "libraries": canonical_json(library_versions()),
    }
    attrs.update(git_state())
    return attrs

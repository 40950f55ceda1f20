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

PACKAGE_ROOT = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_ROOT.parent.parent

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
    }
)


def module_file(module: str) -> Path | None:
    """The source file of ``module`` (a dotted name under ``attnlimits``), None if there is none."""
    parts = module.split(".")
    if parts[0] != "attnlimits":
        return None
    base = PACKAGE_ROOT.joinpath(*parts[1:])
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imported(module: str, tree: ast.AST, is_package: bool) -> set[str]:
    """The ``attnlimits`` modules named by every import statement of ``tree`` (at any depth, so
    that imports inside functions count), relative imports resolved, ``from m import x`` taken
    as the module ``m.x`` where that is one and as ``m`` otherwise."""
    out: set[str] = set()
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                parent = ".".join([*base, *([node.module] if node.module else [])])
            else:
                parent = node.module or ""
            out.add(parent)
            out.update(f"{parent}.{alias.name}" for alias in node.names)
    return {name for name in out if module_file(name) is not None}


def _with_parents(module: str) -> list[str]:
    """``module`` and the packages above it (their ``__init__`` runs on import)."""
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


@functools.cache
def _direct_imports(module: str) -> frozenset[str]:
    path = module_file(module)
    if path is None:
        return frozenset()
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = _imported(module, tree, path.name == "__init__.py")
    return frozenset(p for name in found for p in _with_parents(name))


def import_closure(entries: Iterable[str], exclude: Iterable[str] = NOT_NUMERICS) -> list[str]:
    """Every ``attnlimits`` module that importing ``entries`` can run, sorted.

    ``entries`` are dotted module names, or runners ``module:function``. The closure follows
    every import statement of every module reached (also those inside functions, which run only
    when called: a job may call them), and the packages above each module. Modules in
    ``exclude`` are left out, and so is what only they import.
    """
    excluded = set(exclude)
    todo = [p for entry in entries for p in _with_parents(entry.partition(":")[0])]
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name in seen or name in excluded or module_file(name) is None:
            continue
        seen.add(name)
        todo.extend(_direct_imports(name))
    return sorted(seen)


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


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def git_state() -> dict[str, str | bool]:
    """Commit of the working tree and whether it has uncommitted changes to tracked files."""
    commit = _git("rev-parse", "HEAD")
    if commit is None:
        return {"git_commit": "unknown", "git_dirty": True}
    status = _git("status", "--porcelain", "--untracked-files=no") or ""
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

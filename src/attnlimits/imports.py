"""The code a job can run: the static import closure of its runner, by module and function.

A job's code version (:func:`attnlimits.provenance.code_version`) hashes every module of the
closure. The closure follows names, not only files: ``from m import f`` of a function ``f``
reaches ``f``, the module's functions that ``f`` calls, the imports they use and the module's
top-level statements — not the rest of ``m``. So a limit job and a cell job whose runners live in
one module (each importing its numerics inside itself) have closures of their own, and editing
the discrete model re-runs the cells and not the limits. ``import m``, and ``from m import C`` of
anything but a function, reach all of ``m``. Imports by computed name (``importlib``) are not
seen: runners name their modules in import statements.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parent

#: A node of the closure: a module, and one of its top-level functions or None (all of it).
Node = tuple[str, str | None]


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


def parents(module: str) -> list[str]:
    """The packages above ``module`` (their ``__init__`` runs when it is imported)."""
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


@dataclass(frozen=True)
class _Module:
    tree: ast.Module
    package: str  # the package relative imports start from
    functions: dict[str, ast.AST]


@functools.cache
def _module(module: str) -> _Module | None:
    path = module_file(module)
    if path is None:
        return None
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    functions = {
        node.name: node
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    }
    return _Module(tree, package, functions)


def _targets(info: _Module, node: ast.Import | ast.ImportFrom) -> Iterator[tuple[str, Node]]:
    """(bound name, node) of each name an import statement binds, within ``attnlimits``."""
    if isinstance(node, ast.Import):
        for alias in node.names:
            if module_file(alias.name) is not None:
                yield (alias.asname or alias.name.partition(".")[0], (alias.name, None))
        return
    if node.level:
        base = info.package.split(".")
        base = base[: len(base) - node.level + 1]
        parent = ".".join([*base, *([node.module] if node.module else [])])
    else:
        parent = node.module or ""
    target = _module(parent)  # None for a folder without __init__ (a namespace package)
    for alias in node.names:
        bound = alias.asname or alias.name
        sub = f"{parent}.{alias.name}"
        if module_file(sub) is not None:
            yield (bound, (sub, None))
        elif target is None:
            continue
        elif alias.name in target.functions:
            yield (bound, (parent, alias.name))
        else:
            yield (bound, (parent, None))


def _names(nodes: Iterable[ast.AST]) -> set[str]:
    return {n.id for node in nodes for n in ast.walk(node) if isinstance(n, ast.Name)}


@functools.cache
def _reached(node: Node) -> frozenset[Node]:
    """The nodes that ``node`` imports (one step)."""
    module, function = node
    info = _module(module)
    if info is None:
        return frozenset()
    out: set[Node] = {(p, None) for p in parents(module)}
    if function is None:
        imports = [n for n in ast.walk(info.tree) if isinstance(n, ast.Import | ast.ImportFrom)]
        out.update(t for n in imports for _, t in _targets(info, n))
        return frozenset(out)
    others = [n for n in info.tree.body if n not in info.functions.values()]
    top_imports = [n for n in others if isinstance(n, ast.Import | ast.ImportFrom)]
    rest = [n for n in others if n not in top_imports]
    used, todo = {function}, [function]
    always = _names(rest)
    while todo:
        called = _names([info.functions[todo.pop()]]) | always
        for name in called & set(info.functions) - used:
            used.add(name)
            todo.append(name)
    bodies = [info.functions[name] for name in used]
    referenced = _names(bodies) | always
    for stmt in top_imports:
        out.update(t for bound, t in _targets(info, stmt) if bound in referenced)
    for body in [*bodies, *rest]:
        for n in ast.walk(body):
            if isinstance(n, ast.Import | ast.ImportFrom):
                out.update(t for _, t in _targets(info, n))
    return frozenset(out)


def import_closure(entries: Iterable[str], exclude: Iterable[str] = ()) -> list[str]:
    """Every ``attnlimits`` module whose code a job running ``entries`` can execute, sorted.

    ``entries`` are dotted module names or runners ``module:function`` (module docstring).
    Modules in ``exclude`` are left out, and so is what only they import.
    """
    excluded = set(exclude)
    todo: list[Node] = []
    for entry in entries:
        module, _, function = entry.partition(":")
        todo.append((module, function or None))
    seen: set[Node] = set()
    while todo:
        node = todo.pop()
        if node in seen or node[0] in excluded or module_file(node[0]) is None:
            continue
        if node[1] is not None and node[1] not in _module(node[0]).functions:
            raise ValueError(f"{node[0]} has no top-level function {node[1]!r}")
        seen.add(node)
        todo.extend(_reached(node))
    return sorted({module for module, _ in seen})


def unseen_modules(
    entries: Iterable[str], exclude: Iterable[str], loaded: Iterable[str]
) -> list[str]:
    """The ``attnlimits`` modules among ``loaded`` (e.g. those whose functions a job ran) that
    neither the closure of ``entries`` nor that of the excluded modules accounts for: code that
    ran but is not part of the job's code version, so that editing it would not re-run the job."""
    excluded = list(exclude)
    known = set(import_closure(entries, excluded)) | set(import_closure(excluded))
    return sorted(
        name
        for name in loaded
        if (name == "attnlimits" or name.startswith("attnlimits."))
        and module_file(name) is not None
        and name not in known
    )

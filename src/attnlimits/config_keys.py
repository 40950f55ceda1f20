"""``python -m attnlimits keys [PREFIX ...]``: every configuration key, its default and what it is.

The keys are read from the schema that validation uses (:func:`attnlimits.config.full_schema`:
the main schema with every registered experiment's block, local ``$ref`` followed), one line per
key in schema order, as a dotted path (``heads.fits.bootstrap``). A key whose value is an object
with named properties has no default of its own: its properties, listed below it, have theirs. A
key whose names are free (a block of named grids) is one line with its default, and ``<name>.``
lines for the properties each named value takes (their defaults fill a value that leaves them
out).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from attnlimits.config import _resolve, full_schema

#: The placeholder of a free name (a grid's name) in a dotted path.
ANY_NAME = "<name>"


@dataclass(frozen=True)
class Key:
    """One key of the configuration: its dotted path, default (if any) and description."""

    path: str
    default: Any
    has_default: bool
    description: str


def keys(schema: Mapping[str, Any], prefix: str = "") -> Iterator[Key]:
    """The keys under ``schema`` (the root of its local ``$ref``), depth first, in schema order;
    ``prefix`` is the dotted path of ``schema`` itself."""
    yield from _keys(schema, schema, prefix, None)


def _keys(
    node: Mapping[str, Any], root: Mapping[str, Any], prefix: str, given: Mapping | None
) -> Iterator[Key]:
    """As validation fills a missing key (``config._fill_defaults``): from the default of the
    nearest block above that names it (``given``), else from its own schema default."""
    node = _resolve(node, root)
    for name, child in node.get("properties", {}).items():
        path = f"{prefix}{name}"
        resolved = _resolve(child, root)
        if given is not None and name in given:
            has, value = True, given[name]
        else:
            has, value = "default" in resolved, resolved.get("default")
        description = " ".join(str(resolved.get("description", "")).split())
        block = "properties" in resolved  # its keys, listed below it, show its default
        yield Key(path, None if block else value, has and not block, description)
        yield from _keys(resolved, root, f"{path}.", value if isinstance(value, Mapping) else None)
        free = resolved.get("additionalProperties")
        if isinstance(free, Mapping) and "properties" in _resolve(free, root):
            yield from _keys(free, root, f"{path}.{ANY_NAME}.", None)


def _line(key: Key) -> str:
    default = f" = {json.dumps(key.default)}" if key.has_default else ""
    return f"{key.path}{default}\n    {key.description}" if key.description else key.path + default


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m attnlimits keys",
        description="Every configuration key with its default and description.",
    )
    parser.add_argument(
        "prefix", nargs="*", help="only the keys starting with these dotted paths (e.g. heads.fits)"
    )
    parser.add_argument(
        "--plugins", nargs="*", default=[], help="modules of further experiments to include"
    )
    args = parser.parse_args(argv)
    found = [
        key
        for key in keys(full_schema(args.plugins))
        if not args.prefix
        or any(key.path == p or key.path.startswith(f"{p}.") for p in args.prefix)
    ]
    if not found:
        print(f"no configuration key starts with {' or '.join(args.prefix)}", file=sys.stderr)
        return 1
    print("\n".join(_line(key) for key in found))
    return 0

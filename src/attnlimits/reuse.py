"""Reusing the stores of earlier batch folders (:mod:`attnlimits.batches`).

A batch folder's name carries a digest of its members, so a batch whose members change (a grid
value added or removed, another batch size) is a new folder, computed by a new job, while the
folders of earlier batchings stay where they are. Such a job need not compute every member
again: a member whose store an earlier folder holds, *made by the same thing*, is linked from
there instead.

What made a store is the digest :func:`made_by` of everything its numbers depend on: the key's
parameters (the rule's ``spec`` of the member), the job's code version, the runtime settings
that can change a number (device, threads), and the manifest of every store it read (a cell's
limit: its exact bytes, :mod:`attnlimits.storage`). A finished batch folder records it for each
of its stores in its index (:func:`attnlimits.storage.write_batch_index`); a store is reused only
when its recorded digest equals the one the job computes for the member and it passes the
store check, so reuse never changes a number: the reused store is the one the job would write,
byte for byte in its arrays.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from attnlimits.batches import BATCH_CONSTRAINT
from attnlimits.provenance import params_hash
from attnlimits.storage import MANIFEST, StoreError, check_store, read_batch_index


def _read_digest(path: Path) -> str | None:
    """The SHA-256 of an input: a store's manifest, or a plain file; None for anything else
    (a folder without a manifest: its content is not pinned, so nothing read from it is
    reused)."""
    target = path / MANIFEST if path.is_dir() else path
    if not target.is_file():
        return None
    return hashlib.sha256(target.read_bytes()).hexdigest()


def made_by(
    spec: Mapping[str, Any],
    code: str,
    runtime: Mapping[str, Any],
    inputs: Iterable[str | os.PathLike],
    known: dict[str, str | None] | None = None,
) -> str | None:
    """The digest of what makes a member's store: its parameters, the code version, the numeric
    runtime settings and the bytes of what it reads (module docstring); None when an input is
    not pinned (it is then computed, never reused). ``known``: the digests of inputs already
    read, by path, filled as it goes (the members of a batch share their inputs, e.g. a limit)."""
    known = {} if known is None else known
    read = []
    for path in map(str, inputs):
        if path not in known:
            known[path] = _read_digest(Path(path))
        if known[path] is None:
            return None
        read.append(known[path])
    return params_hash({"spec": spec, "code": code, "runtime": runtime, "read": read}, 64)


def earlier_stores(kind_folder: Path, skip: Path) -> dict[tuple[str, str], Path]:
    """The stores the finished batch folders of ``kind_folder`` (``skip`` aside) hold, by (path
    inside the folder, digest of what made them)."""
    found: dict[tuple[str, str], Path] = {}
    if not kind_folder.is_dir():
        return found
    for folder in sorted(kind_folder.iterdir()):
        if not re.fullmatch(BATCH_CONSTRAINT, folder.name) or folder == skip or not folder.is_dir():
            continue
        for store, digest in (read_batch_index(folder) or {}).items():
            if digest is not None:
                found.setdefault((store, digest), folder / store)
    return found


def reuse_store(source: Path, target: Path) -> bool:
    """Link (or, across file systems, copy) the store ``source`` to ``target`` if it passes the
    full store check (every chunk's checksum, :func:`attnlimits.storage.check_store`); False,
    and nothing written, if not."""
    try:
        check_store(source, full=True)
    except (StoreError, OSError):
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        shutil.copytree(source, target, copy_function=os.link)
    except OSError:
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(source, target)
    return True

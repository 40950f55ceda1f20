"""Batches: many keys of a cheap keyed job computed by one job.

A keyed job (:class:`attnlimits.registry.Job`) whose keys cost a fraction of a second each (a
heads cell: 0.1 s of simulation) would spend most of its time starting Python, importing torch
and writing its log, once per key. A *batched* job kind runs its keys in batches instead: one
job per batch, which calls the runner once per key, in the key order of the configuration, and
writes every key's store, unchanged, inside one folder::

    <kind folder>/batch<index>-of-<count>_<hash>/<the key's own path under the kind folder>

e.g. ``heads/cells/batch3-of-4_20d393e2ee/causal_sphere_N8_d3_beta1/L32_H16_20d393e2ee.zarr``.

Which batch a key falls in is a hash of the key itself (its repr) modulo ``count``, so that
caching stays exact and bounded:

- a key's batch does not depend on the other keys, so adding a grid value re-runs only the
  batches that receive a new key and what depends on them; the other batches keep their stores;
- ``count`` is the smallest power of two with at most ``per_job`` keys per batch on average
  (:func:`batch_count`): it changes only when the number of keys crosses a power of two times
  ``per_job``, and then every batch splits in two;
- ``hash`` is a digest of the members' store paths (their keys and the settings the paths
  carry), so a batch whose members change is a new folder, computed by a new job, and the
  folders of earlier batchings (another grid, another batch size) stay. That job links each
  member whose store an earlier folder holds, made by the same parameters, code, runtime and
  inputs, instead of computing it (:mod:`attnlimits.reuse`): a grown grid computes only its new
  keys, and a grid that comes back computes nothing.

A key's store is the one the unbatched job would write, byte for byte in its arrays: the runner
is the same function, with the same parameters; the batching is an execution setting
(``runtime.cells_per_job``), never a parameter of a number.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from attnlimits.grids import HASH, INTEGER
from attnlimits.provenance import params_hash

#: The name of a batch folder, and the wildcard constraints of its fields.
FOLDER = "batch{part}-of-{parts}_{hash}"
WILDCARDS = {"part": INTEGER, "parts": INTEGER, "hash": HASH}


@dataclass(frozen=True)
class Batch:
    """Batch ``index`` of ``count``: its ``keys`` (in configuration order) and its folder."""

    index: int
    count: int
    keys: tuple[Any, ...]
    folder: str

    @property
    def wildcards(self) -> dict[str, str]:
        """The wildcards of its folder's name (Snakemake reserves ``index`` and ``count``)."""
        return {"part": str(self.index), "parts": str(self.count)}


def batch_count(keys: int, per_job: int) -> int:
    """The number of buckets: the smallest power of two ≥ ``keys / per_job`` (at least 1)."""
    need = max(1, math.ceil(keys / per_job))
    return 1 << (need - 1).bit_length()


def bucket(key: Any, count: int) -> int:
    """The bucket of ``key`` among ``count``: a hash of ``repr(key)`` (a frozen dataclass: its
    field names and values), stable across runs and machines, modulo ``count``."""
    digest = hashlib.sha256(repr(key).encode()).digest()
    return int.from_bytes(digest[:8], "big") % count


def kind_folder(pattern: str) -> str:
    """The folder of a keyed job's stores: the literal part of ``pattern`` up to its last ``/``
    before the first wildcard (``heads/cells/{mask}_...`` → ``heads/cells``)."""
    head = pattern.split("{", 1)[0]
    folder, slash, _ = head.rpartition("/")
    if not slash:
        raise ValueError(f"pattern {pattern!r} has no folder before its first wildcard")
    return folder


def make_batches(
    keys: Sequence[Any],
    paths: Sequence[str],
    pattern: str,
    constraints: Mapping[str, str],
    per_job: int,
) -> list[Batch]:
    """The nonempty batches of ``keys`` (whose stores are at ``paths``), by index."""
    regex = pattern_regex(pattern, constraints)
    for path in paths:
        if regex.fullmatch(path) is None:
            raise ValueError(f"{path} does not match the pattern {pattern}")
    count = batch_count(len(keys), per_job)
    members: dict[int, list[Any]] = {}
    for key, path in zip(keys, paths, strict=True):
        members.setdefault(bucket(key, count), []).append((key, path))
    folder = kind_folder(pattern)
    return [
        Batch(
            i,
            count,
            tuple(key for key, _ in members[i]),
            f"{folder}/{FOLDER}".format(
                part=i, parts=count, hash=params_hash(sorted(path for _, path in members[i]))
            ),
        )
        for i in sorted(members)
    ]


def member_path(batch_folder: str, store: str, pattern: str) -> str:
    """Where the store a key's unbatched job would write at ``store`` lies in its batch."""
    folder = kind_folder(pattern)
    return f"{batch_folder}/{store.removeprefix(folder + '/')}"


def batched_pattern(pattern: str) -> str:
    """The path pattern of the stores of a batched kind (wildcard ``batch``: the folder)."""
    folder = kind_folder(pattern)
    return f"{folder}/{{batch}}/{pattern.removeprefix(folder + '/')}"


#: The constraint of the wildcard ``batch`` of :func:`batched_pattern`.
BATCH_CONSTRAINT = r"batch\d+-of-\d+_[0-9a-f]+"
#: A path part matching anything but a ``/`` (a wildcard without a constraint).
ANY_PART = "[^/]+"


def pattern_regex(pattern: str, constraints: Mapping[str, str]) -> re.Pattern[str]:
    """The regular expression of a path pattern (``{name}`` → the group ``name``, matching
    ``constraints[name]`` or one path part)."""
    out, last = [], 0
    for match in re.finditer(r"\{(\w+)\}", pattern):
        out.append(re.escape(pattern[last : match.start()]))
        name = match.group(1)
        out.append(f"(?P<{name}>{constraints.get(name, ANY_PART)})")
        last = match.end()
    out.append(re.escape(pattern[last:]))
    return re.compile("".join(out))

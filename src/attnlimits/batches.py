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
  batches that receive a new key (Snakemake sees their member list, a parameter, change) and
  what depends on them; the other batches keep their stores;
- ``count`` is the smallest power of two with at most ``per_job`` keys per batch on average
  (:func:`batch_count`): it changes only when the number of keys crosses a power of two times
  ``per_job``, and then every batch splits in two (one re-run of the kind);
- ``hash`` is the hash of the settings the members' paths carry (the same for every key of a
  kind), so that batches of different settings live side by side, like the keys' own stores.

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


def settings_hash(paths: Sequence[str], pattern: str, constraints: Mapping[str, str]) -> str:
    """The ``hash`` wildcard the store paths of a kind share (the hash of their settings); the
    hash of the distinct ones when they differ."""
    regex = pattern_regex(pattern, constraints)
    found = set()
    for path in paths:
        match = regex.fullmatch(path)
        if match is None or "hash" not in match.groupdict():
            raise ValueError(f"{path} does not match the pattern {pattern} with a hash")
        found.add(match.group("hash"))
    return found.pop() if len(found) == 1 else params_hash(sorted(found))


def make_batches(
    keys: Sequence[Any],
    paths: Sequence[str],
    pattern: str,
    constraints: Mapping[str, str],
    per_job: int,
) -> list[Batch]:
    """The nonempty batches of ``keys`` (whose stores are at ``paths``), by index."""
    count = batch_count(len(keys), per_job)
    members: dict[int, list[Any]] = {}
    for key in keys:
        members.setdefault(bucket(key, count), []).append(key)
    digest = settings_hash(paths, pattern, constraints) if paths else "0"
    folder = kind_folder(pattern)
    return [
        Batch(
            i,
            count,
            tuple(members[i]),
            f"{folder}/{FOLDER}".format(part=i, parts=count, hash=digest),
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

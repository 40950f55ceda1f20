"""Zarr stores that are complete, or absent, or refused with the reason.

**Writing.** A store is written under a hidden temporary name beside its final path
(:func:`temporary_path`, which names the writing host and process), a manifest is recorded in
it (:data:`MANIFEST`, :func:`build_manifest`: every array's shape, dtype, chunking, the chunk
files it stored with their sizes and checksums), and it is renamed onto its final path when
complete. An interrupted job never leaves a store that a later run (or Snakemake) would take as
done; what a killed job left is removed by the next run (:func:`remove_stale_temporaries`).

A *published* store (:data:`PUBLISHED`: ``<experiment>/results.zarr`` and ``statistics.zarr``,
the datasets ``open_results`` and ``open_statistics`` read) is versioned: its path is a relative
symbolic link to an immutable hidden version ``.<name>.v-<time>-<id>`` beside it, replaced
atomically by a new link when a new version is finished. The version it replaces is kept until
the next swap. Snakemake removes a job's outputs before the job runs, here only the link: a
reader that opened the dataset (:func:`open_dataset` opens the version the link points to)
keeps valid data while the dataset is rebuilt.

**Reading.** :func:`open_dataset` and :func:`open_group` verify a store first
(:func:`verify_store`): cheaply by default (the manifest is there and parses, the consolidated
metadata parses and agrees with it, every chunk file it lists exists with its size), fully on
request (``full=True``: every chunk and metadata file's checksum too). They read through a store
that refuses a listed chunk that is missing, of another size or another checksum when it is read
(a store removed or damaged while open), so a missing chunk is an error and never Zarr's fill
value. Failures raise :class:`StoreError` (or ``FileNotFoundError`` for a store that is not
there) naming the store and what is wrong.

This module imports only the standard library at import time (``python -m attnlimits verify``
stays fast); numpy, xarray and zarr are imported where they are used.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import shutil
import socket
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from attnlimits.timing import add_writing

if TYPE_CHECKING:
    import xarray as xr
    import zarr

ZARR_FORMAT = 2  # consolidated metadata is part of the v2 format; readable by every client

#: The manifest of a finished store, a JSON file in its root (Zarr ignores it).
MANIFEST = ".manifest.json"
MANIFEST_FORMAT = "attnlimits-store-manifest/1"
#: Zarr v2 metadata files (every other file in an array's folder is a chunk).
METADATA_FILES = frozenset({".zgroup", ".zattrs", ".zarray", ".zmetadata"})
#: The stores written at a fixed path by an experiment's single jobs, whose readers may hold them
#: while they are rebuilt: versioned (module docstring). ``registry.STORES`` + ``.zarr``.
PUBLISHED = ("results.zarr", "statistics.zarr")
#: How to rebuild a damaged store (the end of a :class:`StoreError`'s message).
REBUILD = (
    "Rebuild it: delete it and run snakemake again (a missing output is rebuilt); "
    "`python -m attnlimits verify <results>` lists every damaged store and its command."
)

_TEMPORARY = re.compile(
    r"^\.(?P<target>.+)\.tmp-(?:(?P<host>[A-Za-z0-9]*)-(?P<pid>\d+)-)?(?P<id>[0-9a-f]{8})$"
)
_VERSION = re.compile(r"^\.(?P<target>.+)\.v-(?P<time>[0-9a-f]{16})-(?P<id>[0-9a-f]{8})$")


class StoreError(RuntimeError):
    """A store that is damaged or unfinished: ``path`` and the list of ``problems``."""

    def __init__(self, path: str | os.PathLike, problems: Iterable[str], hint: str = REBUILD):
        self.path = path  # the store, as it was named (a link: with its version)
        self.problems = list(problems)
        shown = "; ".join(self.problems[:5])
        if len(self.problems) > 5:
            shown += f"; and {len(self.problems) - 5} more"
        super().__init__(f"{path}: damaged or unfinished store: {shown}. {hint}")


# --------------------------------------------------------------------------- names


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9]", "", socket.gethostname())[:32]


def temporary_path(path: str | os.PathLike) -> Path:
    """The hidden name a store is written under: ``.<name>.tmp-<host>-<pid>-<id>``."""
    path = Path(path)
    return path.with_name(f".{path.name}.tmp-{_host()}-{os.getpid()}-{uuid.uuid4().hex[:8]}")


def is_temporary(name: str) -> bool:
    """Whether ``name`` is the name of a temporary store (or link) of :func:`temporary_path`."""
    return _TEMPORARY.match(name) is not None


def is_version(name: str) -> bool:
    """Whether ``name`` is the name of a version of a published store."""
    return _VERSION.match(name) is not None


def is_published(path: str | os.PathLike) -> bool:
    """Whether the store at ``path`` is versioned (:data:`PUBLISHED`)."""
    return Path(path).name in PUBLISHED


def versions(path: str | os.PathLike) -> list[Path]:
    """The versions of the published store ``path`` on disk, oldest first."""
    path = Path(path)
    try:
        entries = os.listdir(path.parent)
    except FileNotFoundError:
        return []
    found = [
        (m.group("time"), name)
        for name in entries
        if (m := _VERSION.match(name)) is not None and m.group("target") == path.name
    ]
    return [path.parent / name for _, name in sorted(found)]


# --------------------------------------------------------------------------- manifests


def _digest(data: Any) -> str:
    return hashlib.sha256(data).hexdigest()[:32]


def _chunk_files(folder: Path, prefix: str = "") -> Iterator[tuple[str, os.DirEntry]]:
    """The chunk files of an array's folder (every file but its metadata), key → entry; nested
    folders are chunk keys too (``dimension_separator`` "/")."""
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.name.startswith("."):
                continue
            if entry.is_dir(follow_symlinks=False):
                yield from _chunk_files(Path(entry.path), f"{prefix}{entry.name}/")
            else:
                yield f"{prefix}{entry.name}", entry


def build_manifest(root: str | os.PathLike) -> dict[str, Any]:
    """The manifest of the finished store at ``root``.

    ``{"format", "hash", "arrays": {name: {"shape", "dtype", "chunks", "chunk_count",
    "stored": {chunk key: [bytes, checksum]}, "checksum"}}, "metadata": {file: [bytes,
    checksum]}}``. ``chunk_count`` is the number of chunks of the array's grid; ``stored``
    the chunks written (Zarr writes no chunk that holds only the fill value, so fewer may be
    stored: those read as the fill value, the others must be there). ``checksum`` is the
    first 32 hex digits of a SHA-256, of a file's bytes, or for an array of its chunks'
    keys, sizes and checksums.
    """
    root = Path(root)
    arrays: dict[str, Any] = {}
    metadata: dict[str, list[Any]] = {}
    for folder, subfolders, files in os.walk(root):
        here = Path(folder)
        rel = here.relative_to(root).as_posix()
        prefix = "" if rel == "." else f"{rel}/"
        for name in sorted(METADATA_FILES & set(files)):
            data = (here / name).read_bytes()
            metadata[prefix + name] = [len(data), _digest(data)]
        if ".zarray" not in files:
            subfolders.sort()
            continue
        subfolders[:] = []  # chunk folders of a "/"-separated array are read below
        meta = json.loads((here / ".zarray").read_bytes())
        stored = {}
        for key, entry in sorted(_chunk_files(here)):
            data = Path(entry.path).read_bytes()
            stored[key] = [len(data), _digest(data)]
        shape, chunks = list(meta["shape"]), list(meta["chunks"])
        arrays[prefix.rstrip("/")] = {
            "shape": shape,
            "dtype": meta["dtype"],
            "chunks": chunks,
            "chunk_count": math.prod(-(-s // c) for s, c in zip(shape, chunks, strict=True)),
            "stored": stored,
            "checksum": _array_checksum(stored),
        }
    return {
        "format": MANIFEST_FORMAT,
        "hash": "sha256/32",
        "arrays": dict(sorted(arrays.items())),
        "metadata": dict(sorted(metadata.items())),
    }


def _array_checksum(stored: Mapping[str, list[Any]]) -> str:
    lines = "".join(f"{key} {size} {digest}\n" for key, (size, digest) in sorted(stored.items()))
    return _digest(lines.encode())


def write_manifest(root: str | os.PathLike) -> dict[str, Any]:
    """Record the manifest of the finished store at ``root`` in it (:data:`MANIFEST`)."""
    manifest = build_manifest(root)
    text = json.dumps(manifest, sort_keys=True, separators=(",", ":"))
    (Path(root) / MANIFEST).write_text(text, encoding="utf-8")
    return manifest


def read_manifest(path: str | os.PathLike) -> dict[str, Any]:
    """The manifest of the store at ``path`` (:class:`StoreError` if absent or damaged)."""
    path = Path(path)
    try:
        manifest = json.loads((path / MANIFEST).read_bytes())
        if manifest.get("format") != MANIFEST_FORMAT or not isinstance(manifest["arrays"], dict):
            raise ValueError(manifest.get("format"))
    except FileNotFoundError:
        raise StoreError(path, [_NO_MANIFEST]) from None
    except (ValueError, KeyError, TypeError, AttributeError):
        raise StoreError(path, [f"damaged manifest {MANIFEST} (it does not parse)"]) from None
    return manifest


_NO_MANIFEST = (
    f"no manifest ({MANIFEST}): an unfinished store (a killed job's), or one written before "
    "stores recorded their manifest"
)


# --------------------------------------------------------------------------- verification


def verify_store(
    path: str | os.PathLike, full: bool = False, arrays: Iterable[str] | None = None
) -> list[str]:
    """What is wrong with the store at ``path`` (an empty list when nothing is).

    Cheap (default): the store exists (a published store's link leads to a version), its
    manifest is there and parses, its consolidated metadata parses and lists the manifest's
    arrays with their shape, dtype and chunks, every metadata file it lists is there, every
    chunk file it lists is there with its size, and no chunk file is there that it does not
    list. ``full``: also every chunk and metadata file's size and checksum (an edit of a
    store's attributes, which the cheap check allows, is reported). ``arrays``: check only
    these arrays' chunks.
    """
    path = Path(path)
    if not path.exists():
        if path.is_symlink():
            return [f"it is a link to {os.readlink(path)}, which does not exist"]
        return ["it does not exist"]
    if not path.is_dir():
        return ["it is not a folder"]
    return _verify(path.resolve(), full, arrays)[0]


def _verify(
    real: Path, full: bool, arrays: Iterable[str] | None
) -> tuple[list[str], dict[str, Any] | None]:
    """The problems of the existing store folder ``real`` and its manifest (if it parses)."""
    try:
        manifest = read_manifest(real)
    except StoreError as err:
        return err.problems, None
    problems: list[str] = []
    listed = manifest["arrays"]
    wanted = set(listed) if arrays is None else set(arrays)
    for name in sorted(wanted - set(listed)):
        problems.append(f"array {name!r} is not in the manifest")
    problems += _check_consolidated(real, listed)
    for file, (size, digest) in manifest.get("metadata", {}).items():
        what = f"metadata file {file}"
        if full:
            problems += _check_file(real / file, what, size, digest, full)
        elif not (real / file).exists():
            problems.append(f"missing {what}")
    for name in sorted(wanted & set(listed)):
        problems += _check_chunks(real, name, listed[name], full)
    return problems, manifest


def _check_consolidated(real: Path, listed: Mapping[str, Any]) -> list[str]:
    """The consolidated metadata parses and agrees with the manifest's arrays."""
    try:
        meta = json.loads((real / ".zmetadata").read_bytes())["metadata"]
        if not isinstance(meta, dict):
            raise TypeError
    except FileNotFoundError:
        return ["missing metadata file .zmetadata"]
    except (ValueError, KeyError, TypeError):
        return ["damaged metadata file .zmetadata (it does not parse)"]
    problems = []
    found = {key.removesuffix("/.zarray") for key in meta if key.endswith(".zarray")}
    found = {"" if name == ".zarray" else name for name in found}
    for name in sorted(found - set(listed)):
        problems.append(f"array {name!r} of the metadata is not in the manifest")
    for name, entry in listed.items():
        array = meta.get(f"{name}/.zarray" if name else ".zarray")
        if not isinstance(array, dict):
            problems.append(f"array {name!r} is missing from the metadata .zmetadata")
            continue
        for field in ("shape", "dtype", "chunks"):
            if array.get(field) != entry[field]:
                problems.append(
                    f"array {name!r}: {field} {array.get(field)} in .zmetadata, "
                    f"{entry[field]} in the manifest"
                )
    return problems


def _check_file(file: Path, what: str, size: int, digest: str, full: bool) -> list[str]:
    try:
        got = file.stat().st_size
    except FileNotFoundError:
        return [f"missing {what}"]
    if got != size:
        return [f"truncated or damaged {what} ({got} bytes, {size} written)"]
    if full and _digest(file.read_bytes()) != digest:
        return [f"damaged {what} (its checksum differs from the manifest's)"]
    return []


def _check_chunks(real: Path, name: str, entry: Mapping[str, Any], full: bool) -> list[str]:
    folder = real / name if name else real
    try:
        present = dict(_chunk_files(folder))
    except FileNotFoundError:
        return [f"the folder of array {name!r} is missing"]
    problems = []
    for key, (size, digest) in entry["stored"].items():
        found = present.pop(key, None)
        if found is None:
            problems.append(f"missing chunk {key} of array {name!r}")
            continue
        got = found.stat().st_size
        if got != size:
            problems.append(
                f"truncated or damaged chunk {key} of array {name!r} ({got} bytes, {size} written)"
            )
        elif full and _digest(Path(found.path).read_bytes()) != digest:
            problems.append(
                f"damaged chunk {key} of array {name!r} (its checksum differs from the manifest's)"
            )
    for key in sorted(present):
        problems.append(f"chunk {key} of array {name!r} is not in the manifest")
    return problems


def _label(path: str | os.PathLike, real: Path) -> str:
    """How errors name the store at ``path`` (resolved: ``real``)."""
    if not Path(path).is_symlink():
        return str(path)
    return f"{path} (version {real.name})" if is_version(real.name) else f"{path} (link to {real})"


def check_store(
    path: str | os.PathLike, full: bool = False, arrays: Iterable[str] | None = None
) -> tuple[Path, dict[str, Any]]:
    """The resolved path of the store at ``path`` (a published store's current version) and its
    manifest, after :func:`verify_store`: ``FileNotFoundError`` if it is not there,
    :class:`StoreError` naming ``path`` and what is wrong if it is damaged or unfinished."""
    path = Path(path)
    if not path.exists():
        dangling = (
            f" (a link to {os.readlink(path)}, which does not exist)" if path.is_symlink() else ""
        )
        raise FileNotFoundError(f"{path} does not exist{dangling}: run snakemake")
    if not path.is_dir():
        raise StoreError(path, ["it is not a folder"])
    real = path.resolve()
    problems, manifest = _verify(real, full, arrays)
    if problems or manifest is None:
        raise StoreError(_label(path, real), problems)
    return real, manifest


# --------------------------------------------------------------------------- reading


def _chunk_error(label: str, key: str, problem: str) -> StoreError:
    array, _, chunk = key.rpartition("/")
    return StoreError(
        label, [f"chunk {chunk} of array {array!r} {problem}: the store was removed, replaced or "
                "damaged after it was opened"],
    )  # fmt: skip


_CHECKED_STORE: type | None = None


def _checked_store_class() -> type:
    """:class:`zarr.storage.LocalStore` that refuses the manifest's chunks when they are
    missing, of another size or checksum (made on first use: zarr is imported lazily)."""
    global _CHECKED_STORE
    if _CHECKED_STORE is None:
        from zarr.storage import LocalStore

        class CheckedStore(LocalStore):
            def __init__(
                self,
                root: Path | str,
                *,
                read_only: bool = True,
                chunks: Mapping[str, list[Any]] | None = None,
                label: str = "",
            ) -> None:
                super().__init__(root, read_only=read_only)
                self.chunks = dict(chunks or {})
                self.label = label or str(root)

            def with_read_only(self, read_only: bool = False) -> CheckedStore:
                return type(self)(
                    self.root, read_only=read_only, chunks=self.chunks, label=self.label
                )

            async def get(self, key: str, prototype: Any = None, byte_range: Any = None) -> Any:
                buffer = await super().get(key, prototype, byte_range)
                expected = self.chunks.get(key)
                if expected is not None:
                    if buffer is None:
                        raise _chunk_error(self.label, key, "is missing")
                    if byte_range is None:
                        data = buffer.as_numpy_array()
                        if data.nbytes != expected[0]:
                            raise _chunk_error(
                                self.label, key, f"has {data.nbytes} bytes, {expected[0]} written"
                            )
                        if _digest(data) != expected[1]:
                            raise _chunk_error(self.label, key, "differs from its checksum")
                return buffer

        CheckedStore.__module__ = __name__
        CheckedStore.__qualname__ = CheckedStore.__name__
        _CHECKED_STORE = CheckedStore
    return _CHECKED_STORE


def __getattr__(name: str) -> Any:
    if name == "CheckedStore":  # so that pickle (dask's distributed workers) finds the class
        return _checked_store_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def checked_store(path: str | os.PathLike, full: bool = False, arrays: Iterable[str] | None = None):
    """A read-only zarr store of the verified store at ``path`` (:func:`check_store`) that
    refuses the manifest's chunks when they are missing or altered as they are read."""
    real, manifest = check_store(path, full=full, arrays=arrays)
    chunks = {
        f"{name}/{key}" if name else key: value
        for name, entry in manifest["arrays"].items()
        for key, value in entry["stored"].items()
    }
    return _checked_store_class()(real, read_only=True, chunks=chunks, label=_label(path, real))


def open_dataset(
    path: str | os.PathLike, chunks: dict | str | None = "auto", full: bool = False
) -> xr.Dataset:
    """Open a store written by :func:`write_dataset` lazily (Dask-backed), verified first
    (cheaply, or fully with ``full``): ``FileNotFoundError`` if it is not there,
    :class:`StoreError` naming it and what is wrong if it is damaged or unfinished."""
    import xarray as xr

    store = checked_store(path, full=full)
    return _opened(path, lambda: xr.open_zarr(store, consolidated=True, chunks=chunks))


def open_group(path: str | os.PathLike, arrays: Iterable[str] | None = None) -> zarr.Group:
    """The root group of the store at ``path`` through zarr, read-only, verified first (only the
    chunks of ``arrays``, if given): errors as :func:`open_dataset`."""
    import zarr

    store = checked_store(path, arrays=arrays)
    return _opened(
        path,
        lambda: zarr.open_group(store, mode="r", zarr_format=ZARR_FORMAT, use_consolidated=True),
    )


def _opened(path: str | os.PathLike, opener: Callable[[], Any]) -> Any:
    """``opener()``, its metadata errors as a :class:`StoreError` naming the store at ``path``."""
    try:
        return opener()
    except StoreError:
        raise
    except (ValueError, KeyError, TypeError, OSError) as err:
        raise StoreError(
            path, [f"its metadata does not open ({type(err).__name__}: {err})"]
        ) from err


# --------------------------------------------------------------------------- writing


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink(missing_ok=True)
    else:
        shutil.rmtree(path, ignore_errors=True)


def commit_path(tmp: Path, path: str | os.PathLike) -> Path:
    """Move a finished temporary store onto ``path`` (replacing an older one)."""
    path = Path(path)
    if path.exists() or path.is_symlink():
        _remove(path)
    os.rename(tmp, path)
    return path


def publish(tmp: Path, path: str | os.PathLike) -> Path:
    """Make the finished temporary store ``tmp`` the current version of the published store
    ``path`` (module docstring): rename it to a new version, point ``path`` at it by an atomic
    replacement of the link, and remove the versions older than the one it replaces (or, when
    the link was removed before, than the newest other one), and the temporaries of killed
    writers of ``path``."""
    path = Path(path)
    version = path.with_name(f".{path.name}.v-{time.time_ns():016x}-{uuid.uuid4().hex[:8]}")
    previous = path.resolve().name if path.is_symlink() and path.exists() else None
    os.rename(tmp, version)
    link = temporary_path(path)
    os.symlink(version.name, link)
    try:
        os.replace(link, path)
    except OSError:  # ``path`` is a folder (a store written before stores were versioned)
        if not path.is_dir() or path.is_symlink():
            link.unlink(missing_ok=True)
            raise
        shutil.rmtree(path)
        os.replace(link, path)
    others = [v.name for v in versions(path) if v.name != version.name]
    keep = previous if previous in others else (others[-1] if others else None)
    for old in others:
        if old != keep:
            shutil.rmtree(path.parent / old, ignore_errors=True)
    remove_stale_temporaries(path.parent, target=path.name)  # a killed writer's (few siblings)
    return path


def write_atomic(
    path: str | os.PathLike, write: Callable[[Path], None], published: bool | None = None
) -> Path:
    """Run ``write(tmp)`` on a temporary path, record the store's manifest and move it to
    ``path`` when it returns (``published``, by default for the names of :data:`PUBLISHED`: as
    a new version, :func:`publish`).

    If ``write`` raises (or the process dies), ``path`` is untouched and the partial store is
    left only under a hidden temporary name, which nothing reads (and which the next run, or the
    next publication of a published store, removes once its process is gone).
    """
    start = time.perf_counter()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_path(path)
    try:
        write(tmp)
        write_manifest(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if published is None:
        published = is_published(path)
    done = publish(tmp, path) if published else commit_path(tmp, path)
    add_writing(time.perf_counter() - start)
    return done


def write_dataset(ds: xr.Dataset, path: str | os.PathLike) -> Path:
    """Write ``ds`` as a consolidated Zarr store at ``path``, atomically, with its manifest."""
    return write_atomic(
        path, lambda tmp: ds.to_zarr(tmp, mode="w", consolidated=True, zarr_format=ZARR_FORMAT)
    )


def remove_broken_links(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """Remove each published store's link among ``paths`` whose version is gone or unfinished
    (no manifest: e.g. emptied by ``rm -rf <store>/``), so that the store is missing and
    rebuilt (Snakemake cannot take the time of a dangling link, and would keep a link to an
    empty folder). A version is renamed into place finished, so a link to one without its
    manifest is never a store being written. Returns the links it removed."""
    removed = []
    for path in map(Path, paths):
        if path.is_symlink() and not (path / MANIFEST).is_file():
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


#: The list of the stores of a batch folder (:mod:`attnlimits.batches`), written last.
BATCH_INDEX = ".batch.json"


def write_batch_index(folder: str | os.PathLike, stores: Mapping[str, str | None]) -> None:
    """Record the stores (paths relative to ``folder``) a finished batch folder holds, each with
    the digest of what made it (:func:`attnlimits.reuse.made_by`; None: not reusable)."""
    index = {"stores": dict(sorted(stores.items()))}
    (Path(folder) / BATCH_INDEX).write_text(json.dumps(index), encoding="utf-8")


def read_batch_index(folder: str | os.PathLike) -> dict[str, str | None] | None:
    """The stores a batch folder's index lists, with the digests of what made them (an index
    of an earlier format, a plain list of stores: no digests); None if it has no readable
    index."""
    try:
        index = json.loads((Path(folder) / BATCH_INDEX).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if isinstance(index, list) and all(isinstance(s, str) for s in index):
        return dict.fromkeys(index)
    stores = index.get("stores") if isinstance(index, dict) else None
    return dict(stores) if isinstance(stores, dict) else None


def remove_incomplete_batches(folders: Iterable[str | os.PathLike]) -> list[Path]:
    """Remove each batch folder among ``folders`` that exists but lacks a store its index
    lists, or a store's manifest (a store deleted by hand), or its index, so that the batch is
    missing and rebuilt. A batch folder is renamed into place finished, so such a folder is
    never one being written; a folder whose keys the configuration changed is not touched (its
    job re-runs: its parameters changed). Returns the folders it removed."""
    removed = []
    for folder in map(Path, folders):
        if not folder.is_dir():
            continue
        stores = read_batch_index(folder)
        if stores is None or not all((folder / s / MANIFEST).is_file() for s in stores):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


# --------------------------------------------------------------------------- killed jobs


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _stale(entry: os.DirEntry, before: float | None) -> bool:
    """A temporary whose writer is gone: a process of this host that no longer runs, or (its
    writer unknown or on another host) one last modified before ``before``."""
    match = _TEMPORARY.match(entry.name)
    assert match is not None
    if match.group("pid") is not None and match.group("host") == _host():
        return not _alive(int(match.group("pid")))
    if before is None:
        return False
    try:
        return entry.stat(follow_symlinks=False).st_mtime < before
    except FileNotFoundError:
        return False


def store_folders(root: str | os.PathLike) -> Iterator[tuple[Path, list[os.DirEntry]]]:
    """Every folder under ``root`` that is not a store, with its entries; stores (names ending
    in ``.zarr``), versions and temporaries are not entered."""
    stack = [Path(root)]
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except (FileNotFoundError, NotADirectoryError):
            continue
        yield folder, entries
        for entry in reversed(entries):
            name = entry.name
            if (
                entry.is_dir(follow_symlinks=False)
                and not name.endswith(".zarr")
                and not is_temporary(name)
                and not is_version(name)
            ):
                stack.append(Path(entry.path))


def remove_stale_temporaries(
    root: str | os.PathLike, before: float | None = None, target: str | None = None
) -> list[Path]:
    """Remove the temporary stores (and links) left by killed jobs under ``root`` (with
    ``target``, only those of that store name, in ``root`` itself): those whose writing process
    of this host is gone, and with ``before`` (a time) those of other or unknown writers last
    modified before it. The workflow calls it when a run starts (``onstart``) with the run's
    start; :func:`publish` for its own store. Returns what it removed."""
    removed = []
    if target is not None:
        try:
            with os.scandir(root) as it:
                folders = [(Path(root), list(it))]
        except FileNotFoundError:
            return []
    else:
        folders = store_folders(root)
    for _, entries in folders:
        for entry in entries:
            match = _TEMPORARY.match(entry.name)
            if match is None or (target is not None and match.group("target") != target):
                continue
            if _stale(entry, before):
                _remove(Path(entry.path))
                removed.append(Path(entry.path))
    return removed


# --------------------------------------------------------------------------- variables


def variable(
    data: Any, dims: tuple[str, ...], long_name: str, units: str = "1", **attrs: Any
) -> xr.Variable:
    """A store variable with its ``long_name`` and ``units`` (torch tensors moved to numpy)."""
    import numpy as np
    import xarray as xr

    torch = sys.modules.get("torch")  # a tensor exists only where torch was imported
    if torch is not None and isinstance(data, torch.Tensor):
        data = data.detach().cpu().numpy()
    return xr.Variable(
        dims, np.asarray(data), attrs={"long_name": long_name, "units": units, **attrs}
    )

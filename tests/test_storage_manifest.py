"""Stores that prove they are complete (attnlimits.storage): the manifest a finished store
records, its cheap and full verification, reads that refuse a missing or altered chunk, the
versioned published stores, the removal of killed jobs' temporaries, and ``python -m attnlimits
verify`` on a folder of stores."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import zarr

from attnlimits import storage, verify
from attnlimits.registry import STORES
from attnlimits.storage import (
    MANIFEST,
    PUBLISHED,
    StoreError,
    open_dataset,
    open_group,
    remove_stale_temporaries,
    temporary_path,
    verify_store,
    versions,
    write_atomic,
    write_dataset,
)

ROOT = Path(__file__).resolve().parents[1]


def dataset(scale: float = 1.0) -> xr.Dataset:
    """Three chunks of ``a`` (one row each), ``b`` all NaN (Zarr stores no chunk of it), a flag."""
    ds = xr.Dataset(
        {
            "a": (("i", "j"), scale * np.arange(12.0).reshape(3, 4)),
            "b": ("k", np.full(5, np.nan)),
            "flag": ("i", np.array([True, False, True])),
        },
        attrs={"created": "2026-01-01T00:00:00+00:00"},
    )
    ds["a"].encoding["chunks"] = (1, 4)
    return ds


@pytest.fixture
def store(tmp_path) -> Path:
    return write_dataset(dataset(), tmp_path / "x.zarr")


def manifest(path: Path) -> dict:
    return json.loads((path.resolve() / MANIFEST).read_text())


def flip_last_byte(file: Path) -> None:
    data = bytearray(file.read_bytes())
    data[-1] ^= 0xFF
    file.write_bytes(bytes(data))


# --------------------------------------------------------------------------- the manifest


def test_a_finished_store_records_its_manifest(store):
    m = manifest(store)
    assert m["format"] == storage.MANIFEST_FORMAT
    a = m["arrays"]["a"]
    assert (a["shape"], a["dtype"], a["chunks"], a["chunk_count"]) == ([3, 4], "<f8", [1, 4], 3)
    assert sorted(a["stored"]) == ["0.0", "1.0", "2.0"]
    for key, (size, _) in a["stored"].items():
        assert (store / "a" / key).stat().st_size == size
    # an array whose only chunk holds the fill value has no chunk file: none is listed, and it
    # reads as the fill value without error
    assert m["arrays"]["b"]["chunk_count"] == 1 and m["arrays"]["b"]["stored"] == {}
    assert not [p for p in (store / "b").iterdir() if not p.name.startswith(".")]
    assert {".zmetadata", ".zgroup", ".zattrs", "a/.zarray"} <= set(m["metadata"])
    ds = open_dataset(store, full=True)
    assert np.isnan(ds["b"].values).all() and ds["a"].values.sum() == 66.0
    assert verify_store(store) == [] and verify_store(store, full=True) == []


def test_the_manifest_changes_no_value(tmp_path):
    """What a store holds is what was written; the manifest is one more file beside it."""
    ds = dataset()
    path = write_dataset(ds, tmp_path / "y.zarr")
    xr.testing.assert_identical(open_dataset(path).load(), ds)
    plain = tmp_path / "plain.zarr"
    ds.to_zarr(plain, mode="w", consolidated=True, zarr_format=storage.ZARR_FORMAT)
    files = {p.relative_to(plain).as_posix() for p in plain.rglob("*") if p.is_file()}
    ours = {p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file()}
    assert ours == files | {MANIFEST}
    for name in files:
        assert (plain / name).read_bytes() == (path / name).read_bytes(), name


# --------------------------------------------------------------------------- verification


@pytest.mark.parametrize(
    ("damage", "problem"),
    [
        (lambda p: (p / "a" / "1.0").unlink(), "missing chunk 1.0 of array 'a'"),
        (
            lambda p: (p / "a" / "2.0").write_bytes((p / "a" / "2.0").read_bytes()[:7]),
            "truncated or damaged chunk 2.0 of array 'a' (7 bytes, ",
        ),
        (
            lambda p: (p / "b" / "0").write_bytes(b"xx"),
            "chunk 0 of array 'b' is not in the manifest",
        ),
        (
            lambda p: (p / ".zmetadata").write_text('{"metadata": {'),
            "damaged metadata file .zmetadata (it does not parse)",
        ),
        (lambda p: (p / ".zmetadata").unlink(), "missing metadata file .zmetadata"),
        (lambda p: (p / "a" / ".zarray").unlink(), "missing metadata file a/.zarray"),
        (lambda p: shutil.rmtree(p / "flag"), "the folder of array 'flag' is missing"),
        (lambda p: (p / MANIFEST).unlink(), "no manifest (.manifest.json): an unfinished store"),
        (lambda p: (p / MANIFEST).write_text("{"), "damaged manifest .manifest.json"),
    ],
)
def test_cheap_verification_names_what_is_wrong(store, damage, problem):
    damage(store)
    assert any(problem in p for p in verify_store(store)), verify_store(store)
    with pytest.raises(StoreError) as err:
        open_dataset(store)
    assert str(store) in str(err.value) and problem in str(err.value)
    assert "Rebuild it" in str(err.value)


def test_metadata_that_disagrees_with_the_manifest(store):
    meta = json.loads((store / ".zmetadata").read_text())
    meta["metadata"]["a/.zarray"]["shape"] = [2, 4]
    (store / ".zmetadata").write_text(json.dumps(meta))
    assert verify_store(store) == ["array 'a': shape [2, 4] in .zmetadata, [3, 4] in the manifest"]


def test_a_chunk_damaged_in_place_is_found_by_the_full_check_and_when_read(store):
    flip_last_byte(store / "a" / "0.0")  # same size: the cheap check cannot see it
    assert verify_store(store) == []
    assert verify_store(store, full=True) == [
        "damaged chunk 0.0 of array 'a' (its checksum differs from the manifest's)"
    ]
    with pytest.raises(StoreError, match="damaged chunk 0.0 of array 'a'"):
        open_dataset(store, full=True)
    ds = open_dataset(store)
    assert float(ds["a"].isel(i=2).sum()) == 38.0  # the other chunks read
    with pytest.raises(StoreError, match=r"x\.zarr.*chunk 0\.0 of array 'a' differs"):
        ds["a"].load()


def test_a_chunk_removed_after_opening_is_an_error_not_nan(store):
    ds = open_dataset(store)
    (store / "a" / "1.0").unlink()
    with pytest.raises(StoreError, match=r"chunk 1\.0 of array 'a' is missing"):
        ds["a"].load()
    group = zarr.open_group(str(store), mode="r")  # plain zarr would read the fill value
    assert np.isnan(group["a"][1]).all()


@pytest.mark.filterwarnings("ignore:Object at .manifest.json")  # zarr walks the folder
def test_edited_attributes_pass_the_cheap_check_not_the_full_one(store):
    zarr.open_group(str(store), mode="r+").attrs["created"] = "2030-01-01T00:00:00+00:00"
    zarr.consolidate_metadata(str(store))
    assert verify_store(store) == []
    assert open_dataset(store).attrs["created"].startswith("2030")
    assert verify_store(store, full=True) == [
        "damaged metadata file .zattrs (its checksum differs from the manifest's)",
        "damaged metadata file .zmetadata (its checksum differs from the manifest's)",
    ]


def test_missing_stores_and_partial_verification(tmp_path, store):
    with pytest.raises(FileNotFoundError, match="nope.zarr does not exist"):
        open_dataset(tmp_path / "nope.zarr")
    assert verify_store(tmp_path / "nope.zarr") == ["it does not exist"]
    (store / "a" / "1.0").unlink()
    group = open_group(store, arrays=["flag"])  # only the chunks of the arrays it reads
    assert group["flag"][...].tolist() == [True, False, True]
    with pytest.raises(StoreError, match="missing chunk 1.0"):
        open_group(store)


def test_the_reading_store_pickles(store):
    """Dask's distributed workers receive the store by pickle (runtime.dask: tcp://...)."""
    checked = storage.checked_store(store)
    again = pickle.loads(pickle.dumps(checked))
    assert type(again).__name__ == "CheckedStore" and again.chunks == checked.chunks
    assert str(again.root) == str(store.resolve())


def test_write_atomic_records_the_manifest_of_what_write_made(tmp_path):
    def write(tmp: Path) -> None:
        dataset().to_zarr(tmp, mode="w", consolidated=True, zarr_format=storage.ZARR_FORMAT)

    path = write_atomic(tmp_path / "w.zarr", write)
    assert verify_store(path, full=True) == []
    assert sorted(manifest(path)["arrays"]) == ["a", "b", "flag"]


# --------------------------------------------------------------------------- published stores


def test_published_names_are_the_registry_stores():
    assert set(PUBLISHED) == {f"{name}.zarr" for name in STORES}


def test_a_published_store_is_a_link_to_its_current_version(tmp_path):
    path = tmp_path / "results.zarr"
    write_dataset(dataset(1.0), path)
    assert path.is_symlink() and not os.path.isabs(os.readlink(path))
    first = path.resolve()
    reader = open_dataset(path)  # holds the first version
    write_dataset(dataset(2.0), path)
    assert path.resolve() != first and versions(path) == [first, path.resolve()]
    assert float(reader["a"].sum()) == 66.0  # the replaced version is kept: valid data
    assert float(open_dataset(path)["a"].sum()) == 132.0
    write_dataset(dataset(3.0), path)  # the next swap removes the first version
    assert not first.exists() and len(versions(path)) == 2
    with pytest.raises(StoreError, match=rf"results\.zarr \(version {first.name}\).*missing"):
        reader["a"].load()  # never NaN
    assert verify_store(path, full=True) == []


def test_a_published_store_whose_link_was_removed(tmp_path):
    """Snakemake removes the outputs of a job, here the link, before the job runs."""
    path = tmp_path / "statistics.zarr"
    write_dataset(dataset(1.0), path)
    write_dataset(dataset(2.0), path)
    path.unlink()
    with pytest.raises(FileNotFoundError, match="statistics.zarr does not exist"):
        open_dataset(path)
    newest = versions(path)[-1]
    write_dataset(dataset(3.0), path)
    assert versions(path) == [newest, path.resolve()]  # the newest other version is kept
    shutil.rmtree(path.resolve())
    assert verify_store(path) == [f"it is a link to {os.readlink(path)}, which does not exist"]
    with pytest.raises(FileNotFoundError, match="which does not exist"):
        open_dataset(path)


def test_a_published_store_replaces_a_folder_of_the_old_layout(tmp_path):
    path = tmp_path / "results.zarr"
    dataset().to_zarr(path, consolidated=True, zarr_format=storage.ZARR_FORMAT)
    with pytest.raises(StoreError, match="no manifest"):
        open_dataset(path)
    write_dataset(dataset(2.0), path)
    assert path.is_symlink() and float(open_dataset(path)["a"].sum()) == 132.0


# --------------------------------------------------------------------------- killed jobs


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_temporaries_name_their_writer_and_stale_ones_are_removed(tmp_path):
    target = tmp_path / "c.zarr"
    mine = temporary_path(target)
    assert mine.name.startswith(".c.zarr.tmp-") and f"-{os.getpid()}-" in mine.name
    host = mine.name.split(".tmp-")[1].split("-")[0]
    dead = tmp_path / f".c.zarr.tmp-{host}-{dead_pid()}-0123abcd"
    elsewhere = tmp_path / "sub" / ".d.zarr.tmp-otherhost-1-89abcdef"
    old_format = tmp_path / ".e.zarr.tmp-fedcba98"
    for p in (mine, dead, elsewhere, old_format):
        p.mkdir(parents=True)
    link = tmp_path / f".results.zarr.tmp-{host}-{dead_pid()}-00000000"
    link.symlink_to("nowhere")
    inside = tmp_path / "kept.zarr" / ".f.zarr.tmp-x-1-00000000"  # stores are not entered
    inside.mkdir(parents=True)
    removed = remove_stale_temporaries(tmp_path)
    assert sorted(removed) == sorted([dead, link])
    assert mine.exists() and elsewhere.exists() and old_format.exists() and inside.exists()
    # at the start of a run, those of other or unknown writers that predate it go too
    removed = remove_stale_temporaries(tmp_path, before=time.time() + 1)
    assert sorted(removed) == sorted([elsewhere, old_format])
    assert mine.exists()  # its writer (this process) runs


def test_publishing_removes_what_a_killed_writer_of_the_same_store_left(tmp_path):
    host = temporary_path(tmp_path / "x").name.split(".tmp-")[1].split("-")[0]
    left = tmp_path / f".results.zarr.tmp-{host}-{dead_pid()}-0123abcd"
    other = tmp_path / f".x.zarr.tmp-{host}-{dead_pid()}-0123abcd"
    left.mkdir()
    other.mkdir()
    write_dataset(dataset(), tmp_path / "results.zarr")
    assert not left.exists() and other.exists()  # another store's: the next run removes it


KILLED_WHILE_PUBLISHING = """
import os, signal, sys
import numpy as np, xarray as xr
from attnlimits import storage
path = sys.argv[1]
storage.write_dataset(xr.Dataset({"a": ("i", np.arange(3.0))}), path)
real_symlink = os.symlink
def killed(*args):
    real_symlink(*args)  # the new link, under its temporary name
    os.kill(os.getpid(), signal.SIGKILL)
os.symlink = killed  # SIGKILL between the new version and the swap of the link
storage.write_dataset(xr.Dataset({"a": ("i", np.arange(4.0))}), path)
"""


def test_sigkill_while_publishing_leaves_the_old_version_in_place(tmp_path):
    path = tmp_path / "results.zarr"
    proc = subprocess.run([sys.executable, "-c", KILLED_WHILE_PUBLISHING, str(path)])
    assert proc.returncode == -signal.SIGKILL
    assert open_dataset(path)["a"].values.tolist() == [0.0, 1.0, 2.0]  # still the old one
    assert len(versions(path)) == 2  # and the finished version it did not point at yet
    [link] = [p for p in tmp_path.iterdir() if ".tmp-" in p.name]
    assert link.is_symlink()
    write_dataset(xr.Dataset({"a": ("i", np.arange(5.0))}), path)
    assert open_dataset(path)["a"].values.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert not link.exists() and not link.is_symlink()
    assert len(versions(path)) == 2


# --------------------------------------------------------------------------- verify


@pytest.fixture
def results(tmp_path) -> Path:
    """A results folder of the heads layout: two cell stores (one batch), a limit, the published
    results."""
    root = tmp_path / "results"
    cells = root / "heads" / "cells" / "batch0-of-1_0123456789" / "causal_sphere_N6_d3_beta1"
    write_dataset(dataset(), cells / "L2_H1_0123456789.zarr")
    write_dataset(dataset(), cells / "L4_H1_0123456789.zarr")
    write_dataset(dataset(), root / "heads" / "limit" / "causal_sphere_N6_d3_beta1_0123456789.zarr")
    write_dataset(dataset(), root / "heads" / "results.zarr")
    write_dataset(dataset(), root / "heads" / "results.zarr")  # two versions
    (root / "heads" / "tables").mkdir()
    return root


def test_verify_passes_a_complete_folder(results, capsys):
    assert verify.main([str(results)]) == verify.OK
    out = capsys.readouterr().out
    assert out.startswith(f"checked 4 stores under {results}") and "every store is complete" in out
    assert verify.main([str(results), "--full"]) == verify.OK


def test_verify_lists_every_damaged_store_with_its_rebuild_command(results, capsys):
    cell = (
        results
        / "heads/cells/batch0-of-1_0123456789/causal_sphere_N6_d3_beta1/L2_H1_0123456789.zarr"
    )
    (cell / "a" / "0.0").unlink()
    consolidated = results / "heads" / "results.zarr"
    flip_last_byte(consolidated.resolve() / "a" / "2.0")
    (results / "heads" / ".statistics.zarr.tmp-otherhost-1-0123abcd").mkdir()
    unknown = results / "other.zarr"
    unknown.mkdir()
    assert verify.main([str(results)]) == verify.DAMAGED
    out = capsys.readouterr().out
    assert f"DAMAGED {cell} (rule heads_cell)\n  - missing chunk 0.0 of array 'a'" in out
    batch = cell.parent.parent  # a store of a batch: its batch is forced
    assert f"rebuild: snakemake --forcerun {batch} --cores N" in out
    assert f"DAMAGED {unknown}\n  - no manifest" in out and f"rm -rf {unknown}" in out
    assert "2 of 5 stores are damaged" in out
    assert "1 hidden temporaries of killed or running jobs" in out
    assert consolidated.name not in out.split("DAMAGED")[1]  # same size: only --full sees it
    assert verify.main([str(results), "--full"]) == verify.DAMAGED
    out = capsys.readouterr().out
    assert f"DAMAGED {consolidated} (rule heads_aggregate)" in out
    assert "damaged chunk 2.0 of array 'a'" in out


def test_python_m_attnlimits_verify(results):
    (results / "heads" / "results.zarr").resolve().joinpath(MANIFEST).unlink()
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.run(
        [sys.executable, "-m", "attnlimits", "verify", str(results)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 1, proc.stderr
    assert "(rule heads_aggregate)" in proc.stdout and "no manifest" in proc.stdout
    assert "torch" not in proc.stderr
    usage = subprocess.run(
        [sys.executable, "-m", "attnlimits"], capture_output=True, text=True, env=env, timeout=60
    )
    assert usage.returncode == 2 and "verify" in usage.stderr


def test_broken_links_of_published_stores_are_removed(tmp_path):
    """The workflow removes them before it builds its DAG, so that the store is rebuilt."""
    gone, emptied, kept = (tmp_path / n / "results.zarr" for n in ("gone", "emptied", "kept"))
    for path in (gone, emptied, kept):
        write_dataset(dataset(), path)
    shutil.rmtree(gone.resolve())  # a dangling link
    for part in emptied.resolve().iterdir():  # what `rm -rf results.zarr/` does
        _ = shutil.rmtree(part) if part.is_dir() else part.unlink()
    plain = write_dataset(dataset(), tmp_path / "cell.zarr")
    removed = storage.remove_broken_links([gone, emptied, kept, plain, tmp_path / "none.zarr"])
    assert removed == [gone, emptied]
    assert not gone.is_symlink() and not emptied.is_symlink()
    assert verify_store(kept) == [] and verify_store(plain) == []

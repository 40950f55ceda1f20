"""Reusing the stores of earlier batch folders (attnlimits.reuse): what made a store, which
earlier stores are found, and that only an intact store made by the same thing is linked."""

from __future__ import annotations

import logging
import types
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from attnlimits.jobs import _reuse_earlier
from attnlimits.reuse import earlier_stores, made_by, reuse_store
from attnlimits.storage import (
    MANIFEST,
    open_dataset,
    read_batch_index,
    write_batch_index,
    write_dataset,
)

SPEC = {"L": 4, "H": 2, "seed": 0}


def store(path: Path, value: float = 1.0) -> Path:
    write_dataset(xr.Dataset({"e2": ("seed", np.array([value, 2.0]))}), path)
    return path


def test_made_by_pins_parameters_code_runtime_and_the_bytes_read(tmp_path):
    limit = store(tmp_path / "limit.zarr")
    table = tmp_path / "table.csv"
    table.write_text("a,b\n1,2\n")
    base = made_by(SPEC, "code1", {"device": "cpu"}, [limit, table])
    assert base is not None and len(base) == 64
    assert made_by(dict(SPEC), "code1", {"device": "cpu"}, [limit, table]) == base
    changed = [
        made_by({**SPEC, "H": 3}, "code1", {"device": "cpu"}, [limit, table]),
        made_by(SPEC, "code2", {"device": "cpu"}, [limit, table]),
        made_by(SPEC, "code1", {"device": "cuda"}, [limit, table]),
        made_by(SPEC, "code1", {"device": "cpu"}, [table, limit]),
        made_by(SPEC, "code1", {"device": "cpu"}, [store(tmp_path / "other.zarr", 3.0), table]),
    ]
    assert base not in changed and len(set(changed)) == len(changed)
    # an input whose content is not pinned (a folder without a manifest, a missing path)
    (tmp_path / "plain").mkdir()
    assert made_by(SPEC, "code1", {}, [tmp_path / "plain"]) is None
    assert made_by(SPEC, "code1", {}, [tmp_path / "absent.zarr"]) is None


def batch_folder(kind: Path, name: str, stores: dict[str, str | None]) -> Path:
    folder = kind / name
    for rel in stores:
        store(folder / rel)
    write_batch_index(folder, stores)
    return folder


def test_earlier_stores_are_those_of_the_other_finished_batch_folders(tmp_path):
    kind = tmp_path / "heads/cells"
    old = batch_folder(kind, "batch0-of-2_aaaa", {"a/L2.zarr": "d1", "a/L4.zarr": None})
    new = batch_folder(kind, "batch0-of-1_bbbb", {"a/L8.zarr": "d3"})
    store(kind / ".batch0-of-1_cccc.tmp-1/a/L2.zarr")  # a temporary: not a batch folder
    assert read_batch_index(old) == {"a/L2.zarr": "d1", "a/L4.zarr": None}
    found = earlier_stores(kind, skip=new)
    assert found == {("a/L2.zarr", "d1"): old / "a/L2.zarr"}  # no digest: never reused
    assert earlier_stores(kind, skip=old) == {("a/L8.zarr", "d3"): new / "a/L8.zarr"}
    assert earlier_stores(tmp_path / "absent", skip=new) == {}


def test_only_an_intact_store_is_reused_and_it_is_the_same_store(tmp_path):
    source = store(tmp_path / "old/a/L2.zarr", 5.0)
    target = tmp_path / "new/a/L2.zarr"
    assert reuse_store(source, target)
    assert (target / MANIFEST).read_bytes() == (source / MANIFEST).read_bytes()
    assert open_dataset(target, chunks=None)["e2"].values.tolist() == [5.0, 2.0]
    damaged = store(tmp_path / "old/a/L4.zarr")
    [chunk] = [p for p in (damaged / "e2").iterdir() if not p.name.startswith(".")]
    data = bytearray(chunk.read_bytes())
    data[-1] ^= 0xFF  # same size: only the full check (checksums) sees it
    chunk.write_bytes(bytes(data))
    assert not reuse_store(damaged, tmp_path / "new/a/L4.zarr")
    assert not (tmp_path / "new/a/L4.zarr").exists()


@pytest.mark.parametrize("same_input", [True, False])
def test_a_batch_job_links_what_an_earlier_folder_made_and_computes_the_rest(tmp_path, same_input):
    """attnlimits.jobs._reuse_earlier, what a batch job runs before its runner: a member made
    by the same parameters, code, runtime and input bytes is linked; any other is left to the
    runner."""
    kind = tmp_path / "heads/cells"
    limit = store(tmp_path / "heads/limit/x.zarr")
    params = types.SimpleNamespace(code="c1", runtime={"device": "cpu"})

    def member(L):
        return {"spec": {**SPEC, "L": L}, "store": f"a/L{L}.zarr"}

    def job(folder, m):
        return types.SimpleNamespace(
            input=[str(limit)], output=[str(folder / m["store"])], spec=m["spec"]
        )

    first = [member(2), member(4)]
    old = kind / "batch0-of-1_aaaa"
    made = _reuse_earlier([job(old, m) for m in first], first, old, params, logging.getLogger())
    assert all(not reused for _, reused in made.values())  # nothing earlier
    for m in first:
        store(old / m["store"], m["spec"]["L"])
    write_batch_index(old, {s: digest for s, (digest, _) in made.items()})
    if not same_input:  # the limit computed again, differently: nothing made from it is reused
        store(limit.with_name("y.zarr"), 7.0)
        limit = limit.with_name("y.zarr")
    grown = [member(2), member(4), member(8)]
    new = kind / "batch0-of-2_bbbb"
    made = _reuse_earlier([job(new, m) for m in grown], grown, new, params, logging.getLogger())
    reused = {s for s, (_, r) in made.items() if r}
    assert reused == ({"a/L2.zarr", "a/L4.zarr"} if same_input else set())
    for s in reused:
        assert open_dataset(new / s, chunks=None)["e2"].values[0] == int(s[3])
    assert not (new / "a/L8.zarr").exists()

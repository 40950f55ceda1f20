"""Batches of cheap keyed jobs (attnlimits.batches, Experiment.batches): every key in exactly one
batch, a key's batch independent of the other keys, bounded re-runs when the grid grows, the
store paths inside the batch folders, the configuration's ``runtime.cells_per_job``, and the
rebuild command of a damaged store of a batch."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from workflow_helpers import load_config

from attnlimits.batches import (
    BATCH_CONSTRAINT,
    batch_count,
    batched_pattern,
    bucket,
    kind_folder,
    make_batches,
    pattern_regex,
)
from attnlimits.config import ConfigError, validate_config
from attnlimits.provenance import params_hash
from attnlimits.registry import registered
from attnlimits.verify import rebuild_command, rules_by_path


@dataclass(frozen=True)
class Key:
    L: int
    H: int


PATTERN = "toy/cells/L{L}_H{H}_{hash}.zarr"
WILDCARDS = {"L": r"\d+", "H": r"\d+", "hash": "[0-9a-f]+"}


def batches_of(keys: list[Key], per_job: int):
    paths = [f"toy/cells/L{k.L}_H{k.H}_abc123.zarr" for k in keys]
    return make_batches(keys, paths, PATTERN, WILDCARDS, per_job)


def grid(depths, heads) -> list[Key]:
    return [Key(L, H) for L in depths for H in heads]


@pytest.mark.parametrize(
    ("keys", "per_job", "count"),
    [(1, 32, 1), (32, 32, 1), (33, 32, 2), (82, 32, 4), (53, 8, 8), (100_000, 32, 4096)],
)
def test_batch_count_is_the_power_of_two_that_holds_per_job_keys_on_average(keys, per_job, count):
    assert batch_count(keys, per_job) == count
    assert keys / count <= per_job and (count == 1 or keys / (count // 2) > per_job)


def test_every_key_in_exactly_one_batch_in_configuration_order():
    keys = grid([4, 8, 16, 32], [1, 4, 16, 64, 256])
    found = batches_of(keys, 4)
    assert all(b.count == 8 for b in found)
    members = [k for b in found for k in b.keys]
    assert sorted(members, key=keys.index) == keys and len(set(members)) == len(keys)
    for b in found:
        assert list(b.keys) == sorted(b.keys, key=keys.index)
        assert all(bucket(k, b.count) == b.index for k in b.keys)
        paths = sorted(f"toy/cells/L{k.L}_H{k.H}_abc123.zarr" for k in b.keys)
        assert b.folder == f"toy/cells/batch{b.index}-of-8_{params_hash(paths)}"


def test_a_new_grid_value_changes_only_the_batches_it_falls_in():
    before = {b.index: b for b in batches_of(grid([4, 8, 16], [1, 4, 16]), 2)}
    grown = batches_of(grid([4, 8, 16, 32], [1, 4, 16]), 2)  # 9 → 12 keys: still 8 batches
    after = {b.index: b for b in grown}
    new = set(grid([32], [1, 4, 16]))
    changed = {i for i in after if i not in before or after[i].keys != before[i].keys}
    assert changed == {bucket(k, 8) for k in new}
    for i in set(after) - changed:  # the others: the same keys, the same folder
        assert after[i] == before[i]
    for i in changed & set(before):  # new members: a new folder (the earlier one stays)
        assert after[i].folder != before[i].folder


def test_crossing_a_power_of_two_splits_every_batch_in_two():
    small = batches_of(grid(range(1, 5), [1]), 2)  # 4 keys, 2 batches
    large = batches_of(grid(range(1, 6), [1]), 2)  # 5 keys, 4 batches
    assert {b.count for b in small} == {2} and {b.count for b in large} == {4}
    for b in large:  # bucket mod 4 refines bucket mod 2
        assert all(bucket(k, 2) == b.index % 2 for k in b.keys)


def test_the_batch_folder_hash_is_a_digest_of_its_stores():
    keys = grid([4], [1, 2])
    other = [f"toy/cells/L{k.L}_H{k.H}_ffff00.zarr" for k in keys]
    [b] = make_batches(keys, other, PATTERN, WILDCARDS, 32)
    [same] = batches_of(keys, 32)
    assert b.folder.endswith("_" + params_hash(sorted(other))) and b.folder != same.folder
    with pytest.raises(ValueError, match="does not match"):
        make_batches(keys, ["elsewhere/x.zarr", *other[1:]], PATTERN, WILDCARDS, 32)


def test_patterns_of_batched_stores():
    assert kind_folder(PATTERN) == "toy/cells"
    pattern = batched_pattern(PATTERN)
    assert pattern == "toy/cells/{batch}/L{L}_H{H}_{hash}.zarr"
    regex = pattern_regex(pattern, {**WILDCARDS, "batch": BATCH_CONSTRAINT})
    match = regex.fullmatch("toy/cells/batch3-of-8_abc123/L4_H16_abc123.zarr")
    assert match is not None and match.group("batch") == "batch3-of-8_abc123"
    assert regex.fullmatch("toy/cells/L4_H16_abc123.zarr") is None
    with pytest.raises(ValueError, match="no folder"):
        kind_folder("{L}.zarr")


# --------------------------------------------------------------------------- the registry


@pytest.fixture(scope="module")
def heads_config() -> dict:
    return load_config("test.yaml")


def test_store_paths_lie_in_their_batch_folders_in_key_order(heads_config):
    heads = registered()["heads"]
    keys = heads.keys(heads_config, "cell")
    paths = heads.store_paths(heads_config, "cell")
    folders = heads.keyed_outputs(heads_config, "cell")
    assert len(paths) == len(keys) == 9 and len(folders) == 4
    unbatched = [heads.job("cell").path(heads_config, k) for k in keys]
    for key, path, own in zip(keys, paths, unbatched, strict=True):
        folder = heads.output_of(heads_config, "cell", key)
        assert folder in folders
        assert path == f"{folder}/{own.removeprefix('heads/cells/')}"
        assert heads.store_path(heads_config, "cell", key) == path
    # an unbatched kind (a plugin's, say): one store per key at its own path
    jobs = tuple(replace(j, per_job=None) if j.name == "limit" else j for j in heads.jobs)
    unbatched_limits = replace(heads, jobs=jobs)
    limits = unbatched_limits.keys(heads_config, "limit")
    assert unbatched_limits.keyed_outputs(heads_config, "limit") == [
        heads.job("limit").path(heads_config, k) for k in limits
    ]


def test_a_needed_store_is_waited_for_as_its_batch_and_read_as_itself(heads_config):
    """StoreOf: Snakemake's input is the folder of the batch that writes the store (the job's
    output), the runner's is the store inside it; paths of other needs are unchanged."""
    heads = registered()["heads"]
    for key in heads.keys(heads_config, "cell"):
        waited = heads.inputs_of(heads_config, "cell", key)
        read = heads.reads_of(heads_config, "cell", key)
        assert waited == {"limit": heads.output_of(heads_config, "limit", key.limit)}
        assert read == {"limit": heads.store_path(heads_config, "limit", key.limit)}
        assert waited["limit"] in heads.keyed_outputs(heads_config, "limit")
        assert read["limit"].startswith(waited["limit"] + "/") and read["limit"].endswith(".zarr")
    plots = heads.reads_of(heads_config, "plots", None)
    assert plots["tables"] == heads.inputs_of(heads_config, "plots", None)["tables"]
    assert plots["cell"] in heads.store_paths(heads_config, "cell")


def test_cells_per_job_chooses_the_batches_and_is_checked(heads_config):
    heads = registered()["heads"]
    config = copy.deepcopy(heads_config)
    config["runtime"]["cells_per_job"] = {"heads_cell": 1}
    assert heads.per_job(config, "cell") == 1
    assert len(heads.keyed_outputs(config, "cell")) <= 9
    assert {b.count for b in heads.batches(config, "cell")} == {16}
    config["runtime"]["cells_per_job"] = {}
    assert heads.per_job(config, "cell") == heads.job("cell").per_job == 64
    assert heads.per_job(config, "limit") == heads.job("limit").per_job == 16
    assert heads.per_job(config, "fit") is None
    for bad, said in [
        ({"heads_fit": 4}, "runtime.cells_per_job.heads_fit: no batched job"),
        ({"heads_cel": 4}, "runtime.cells_per_job.heads_cel: no batched job"),
        ({"heads_cell": 0}, "runtime.cells_per_job.heads_cell"),
    ]:
        raw = copy.deepcopy(heads_config)
        raw["runtime"]["cells_per_job"] = bad
        with pytest.raises(ConfigError, match=said):
            validate_config(raw)


def test_a_damaged_store_of_a_batch_is_rebuilt_by_forcing_its_batch():
    results = Path("results")
    store = (
        results / "heads/cells/batch2-of-4_0123abcd/causal_sphere_N6_d3_beta1/L2_H1_0123abcd.zarr"
    )
    rule, command = rebuild_command(store, results, rules_by_path())
    assert rule == "heads_cell"
    assert command == "snakemake --forcerun results/heads/cells/batch2-of-4_0123abcd --cores N"
    limit = results / "heads/limit/batch0-of-1_0123abcd/causal_sphere_N6_d3_beta1_0123abcd.zarr"
    assert rebuild_command(limit, results, rules_by_path()) == (
        "heads_limit",
        "snakemake --forcerun results/heads/limit/batch0-of-1_0123abcd --cores N",
    )
    # a store of a single job: itself
    consolidated = results / "heads/results.zarr"
    assert rebuild_command(consolidated, results, rules_by_path()) == (
        "heads_aggregate",
        f"snakemake --forcerun {consolidated} --cores N",
    )


def test_only_a_batch_folder_missing_a_store_it_wrote_is_removed(tmp_path):
    """A store deleted by hand: the folder goes (and its batch is rebuilt). A folder without its
    index is unfinished: it goes. A folder whose keys the configuration changed stays (its job
    re-runs through its parameters; a dry run must not delete results)."""
    import xarray as xr

    from attnlimits.storage import remove_incomplete_batches, write_batch_index, write_dataset

    folders = {}
    for name in ("complete", "damaged", "unindexed", "earlier_format"):
        folder = tmp_path / name
        stores = ["a/L2_H1_0.zarr", "a/L4_H1_0.zarr"]
        for store in stores:
            write_dataset(xr.Dataset({"e2": ("seed", [1.0, 2.0])}), folder / store)
        if name == "earlier_format":  # a plain list of the stores
            (folder / ".batch.json").write_text(json.dumps(stores))
        elif name != "unindexed":
            write_batch_index(folder, dict.fromkeys(stores, "0" * 64))
        folders[name] = folder
    import shutil

    shutil.rmtree(folders["damaged"] / "a/L4_H1_0.zarr")
    removed = remove_incomplete_batches([*folders.values(), tmp_path / "absent"])
    assert removed == [folders["damaged"], folders["unindexed"]]
    assert folders["complete"].is_dir() and not folders["damaged"].exists()
    assert folders["earlier_format"].is_dir()

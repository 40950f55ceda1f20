"""Jobs, specs, paths and configuration of experiment ``lowtemp`` (attnlimits.lowtemp.grid)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
from config_edits import assert_invalid, put

from attnlimits.config import load_config, validate_config
from attnlimits.lowtemp import grid
from attnlimits.lowtemp.measures import particle_count

REPO = Path(__file__).resolve().parents[1]
DEFAULT = load_config(REPO / "config" / "config.yaml")
LOWTEMP = DEFAULT["lowtemp"]


def test_jobs_cover_every_head_variant_and_size():
    runs = grid.run_keys(LOWTEMP)
    assert len(runs) == len(LOWTEMP["heads"]) * len(LOWTEMP["variants"])
    assert {(k.head, k.variant) for k in runs} == {
        (h, v) for h in LOWTEMP["heads"] for v in LOWTEMP["variants"]
    }
    term = LOWTEMP["terminal"]
    keys = grid.terminal_keys(LOWTEMP)
    assert len(keys) == len(term["heads"]) * len(term["variants"]) * len(term["sizes"])


def test_specs_hold_the_head_settings_and_paths_hash_them():
    key = grid.RunKey("random", "plain")
    spec = grid.run_spec(LOWTEMP, key)
    assert spec["head"] == {"kind": "random", "scale": 0.2, "seed": 3}
    assert spec["measure"] == {"kind": "disc", "size": 12, "d": 2}
    path = grid.run_path(LOWTEMP, key)
    assert path.startswith("lowtemp/runs/random/plain_") and path.endswith(".zarr")
    # the head's settings are in the hash, its name only in the path
    other = copy.deepcopy(LOWTEMP)
    other["heads"]["random"]["seed"] = 4
    assert grid.run_path(other, key) != path
    renamed = copy.deepcopy(LOWTEMP)
    renamed["heads"]["generic"] = renamed["heads"].pop("random")
    assert (
        grid.run_path(renamed, grid.RunKey("generic", "plain")).split("_")[-1]
        == (path.split("_")[-1])
    )
    # equal settings written differently (1 vs 1.0) give the same path
    ints = copy.deepcopy(LOWTEMP)
    ints["heads"]["gap_half"]["v"] = [1, 0.5]
    same = grid.RunKey("gap_half", "consensus")
    assert grid.run_path(ints, same) == grid.run_path(LOWTEMP, same)
    # a setting of the runs does not move the terminal jobs, and the other way round
    longer = {**LOWTEMP, "horizon": 8.0}
    term = grid.TerminalKey("identity", "plain", 8)
    assert grid.terminal_path(longer, term) == grid.terminal_path(LOWTEMP, term)
    assert grid.run_path(longer, key) != path
    assert grid.terminal_path(LOWTEMP, term).startswith("lowtemp/terminal/identity/plain_size8_")


def test_find_matches_path_wildcards():
    keys = grid.terminal_keys(LOWTEMP)
    found = grid.find(keys, {"head": "random", "variant": "consensus", "size": "12", "hash": "x"})
    assert found == grid.TerminalKey("random", "consensus", 12)
    with pytest.raises(KeyError, match="lowtemp"):
        grid.find(keys, {"head": "nope", "variant": "plain", "size": "4"})


def test_particle_count_matches_the_measure():
    assert particle_count("disc", 12, 2) == 576
    assert particle_count("ball", 4, 3) == 32


@pytest.mark.parametrize(
    ("modify", "expected"),
    [
        (
            put("lowtemp.betas", [4, 256]),
            [
                "lowtemp.betas[1]: outside the mean-field regime: beta=256 needs N >= 4 * "
                "beta^(k/2) = 1024 particles (k=2), the measure has N=576",
                "lowtemp.regime.allow_outside: true",
            ],
        ),
        (put("lowtemp.measure", {"kind": "disc", "size": 4, "d": 3}), ["disc lives in d = 2"]),
        (
            put("lowtemp.heads.gap_half", {"kind": "diagonal", "v": [1.0]}),
            ["lowtemp.heads.gap_half.v: 1 entries, lowtemp.measure.d = 2"],
        ),
        (
            put("lowtemp.heads.random", {"kind": "random", "scale": 3.0, "seed": 1}),
            ["lowtemp.heads.random: QᵀK is not positive definite"],
        ),
        (
            put("lowtemp.heads.random", {"kind": "random"}),
            ["lowtemp.heads.random: 'scale' is a required property", "'seed' is a required"],
        ),
        (
            put("lowtemp.heads.random", {"kind": "hot"}),
            ["lowtemp.heads.random.kind: 'hot' is not one of ['identity', 'random', 'diagonal']"],
        ),
        (
            put("lowtemp.heads.identity", {"kind": "identity", "v": [1.0, 2.0]}),
            ["lowtemp.heads.identity: Additional properties are not allowed ('v' was unexpected)"],
        ),
        (put("lowtemp.terminal.heads", ["identity", "other"]), ["terminal.heads[1]: 'other'"]),
        (put("lowtemp.fits.times", [0.3]), ["lowtemp.fits.times[0]: 0.3 is not a record time"]),
        (put("lowtemp.fits.phase_window", [5.0, 9.0]), ["lowtemp.fits.phase_window"]),
        (put("lowtemp.heads", {"Bad-Name": {"kind": "identity"}}), ["invalid name"]),
        (put("lowtemp.variants", ["hot"]), ["lowtemp.variants[0]: 'hot' is not one of"]),
    ],
)
def test_bad_lowtemp_configs_are_refused_with_the_key_named(modify, expected):
    assert_invalid(DEFAULT, modify, expected)


def test_outside_the_regime_runs_when_allowed():
    config = copy.deepcopy(DEFAULT)
    config["lowtemp"]["betas"] = [4, 256]
    config["lowtemp"]["regime"]["allow_outside"] = True
    assert validate_config(config)["lowtemp"]["betas"] == [4, 256]


def test_lowtemp_block_defaults_are_the_default_config():
    config = copy.deepcopy(DEFAULT)
    del config["lowtemp"]
    assert validate_config(config) == DEFAULT

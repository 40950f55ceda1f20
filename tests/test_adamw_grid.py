"""Grid, specs, paths and configuration of experiment ``adamw`` (attnlimits.adamw.grid)."""

from __future__ import annotations

import copy
import itertools
import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from config_edits import assert_invalid, put, set_in

from attnlimits import config as cfg
from attnlimits.adamw import grid
from attnlimits.adamw.optimizer import VARIANTS
from attnlimits.config import load_config, validate_config

REPO = Path(__file__).resolve().parents[1]
DEFAULT = load_config(REPO / "config" / "config.yaml")

LIMIT_KEYS = {
    "variant",
    "eps",
    "N",
    "d",
    "beta",
    "T",
    "mask",
    "normalisation",
    "law",
    "task",
    "optimizer",
    "limit",
}
NESTED_KEYS = {
    "law": {"atoms", "v_bar", "sigma_v", "seed"},
    "task": {
        "inputs",
        "d_out",
        "teacher_atoms",
        "teacher_v_bar",
        "teacher_sigma_v",
        "teacher_steps",
        "seed",
    },
    "optimizer": {"lr", "beta1", "beta2", "weight_decay", "steps"},
    "limit": {"steps", "records"},
}
CELL_KEYS = LIMIT_KEYS | {"L", "H", "seeds", "seed"}


def small_adamw(**grids) -> dict:
    adamw = copy.deepcopy(DEFAULT["adamw"])
    adamw["grids"] = grids or {
        "a": {
            "variant": ["standard", "blockwise"],
            "eps": [1e-8],
            "N": [5],
            "d": [3],
            "beta": [1.0],
            "L": [4, 8],
            "H": [2, 4],
        },
        "b": {
            "variant": ["blockwise"],
            "eps": [1e-8, 1e-4],
            "N": [5, 7],
            "d": [3],
            "beta": [1.0],
            "L": [8],
            "H": [4],
        },
    }
    return adamw


def product(g: dict) -> set[tuple]:
    axes = ("variant", "eps", "N", "d", "beta", "L", "H")
    return set(itertools.product(*(g[a] for a in axes)))


def astuple(key) -> tuple:
    return tuple(vars(key).values())


def test_cells_are_the_union_of_the_grids_without_duplicates():
    adamw = small_adamw()
    cells = grid.cells(adamw)
    expected = product(adamw["grids"]["a"]) | product(adamw["grids"]["b"])
    assert len(cells) == len(set(cells)) == len(expected) == 8 + 4 - 1
    assert {astuple(c) for c in cells} == expected
    assert cells == sorted(cells, key=astuple)
    limits = grid.limits(adamw)
    assert len(limits) == len(set(limits)) == 5
    assert set(limits) == {c.limit for c in cells}
    assert {astuple(k) for k in limits} == {t[:5] for t in expected}


def test_cells_have_typed_fields():
    adamw = small_adamw(
        g={"variant": ["standard"], "eps": [1], "N": [5], "d": [3], "beta": [2], "L": [4], "H": [2]}
    )
    (cell,) = grid.cells(adamw)
    assert type(cell.eps) is float and type(cell.beta) is float
    assert type(cell.N) is int and type(cell.L) is int


def test_default_and_paper_grids():
    cells = grid.cells(DEFAULT["adamw"])
    # 2 x 20 (L, H) + 3 new N + 2 x 2 new eps; one limit per (variant, eps, N, d); the d-study
    # is a study (adamw.studies, tests/test_adamw_studies.py)
    assert len(cells) == 47 and len(grid.limits(DEFAULT["adamw"])) == 9
    paper = load_config(REPO / "config" / "paper.yaml")
    assert "adamw" in paper["experiments"] and "adamw" in DEFAULT["experiments"]
    big = grid.cells(paper["adamw"])
    assert len(big) > len(cells)
    assert paper["adamw"]["seeds"] > DEFAULT["adamw"]["seeds"]
    assert paper["adamw"]["limit"]["steps"] > DEFAULT["adamw"]["limit"]["steps"]


def test_specs_have_exactly_the_agreed_keys():
    adamw = small_adamw()
    cell = grid.cells(adamw)[0]
    limit = grid.limit_spec(adamw, cell.limit)
    spec = grid.cell_spec(adamw, cell)
    assert set(limit) == LIMIT_KEYS and tuple(limit) == grid.LIMIT_SPEC_KEYS
    assert set(spec) == CELL_KEYS and tuple(spec) == grid.CELL_SPEC_KEYS
    for name, keys in NESTED_KEYS.items():
        assert set(limit[name]) == keys and set(spec[name]) == keys
        assert spec[name] == limit[name] == adamw[name]
    assert {k: spec[k] for k in LIMIT_KEYS} == limit
    assert (spec["L"], spec["H"]) == (cell.L, cell.H)
    assert (spec["seeds"], spec["seed"]) == (adamw["seeds"], adamw["seed"])
    assert (limit["variant"], limit["eps"], limit["N"]) == (cell.variant, cell.eps, cell.N)
    assert (limit["T"], limit["mask"], limit["normalisation"]) == (1.0, "encoder", "sphere")
    assert json.loads(json.dumps(spec)) == spec  # plain data
    # the spec is a copy: changing it leaves the configuration alone
    spec["law"]["atoms"] = 99
    assert adamw["law"]["atoms"] == DEFAULT["adamw"]["law"]["atoms"]


def test_specs_cast_numbers():
    adamw = small_adamw()
    adamw["T"] = 1
    adamw["optimizer"]["lr"] = 1
    spec = grid.limit_spec(adamw, grid.limits(adamw)[0])
    assert type(spec["T"]) is float and type(spec["optimizer"]["lr"]) is float
    assert grid.limit_spec(small_adamw(), grid.limits(adamw)[0]) != spec  # lr differs
    adamw["optimizer"]["lr"] = DEFAULT["adamw"]["optimizer"]["lr"]
    key = grid.limits(adamw)[0]
    assert grid.limit_path(adamw, key) == grid.limit_path(small_adamw(), key)


def _regex(pattern: str) -> re.Pattern:
    """The path pattern as Snakemake reads it, each wildcard with its constraint."""
    out = re.escape(pattern)
    for name, constraint in grid.WILDCARD_CONSTRAINTS.items():
        out = out.replace(re.escape("{" + name + "}"), f"(?P<{name}>{constraint})")
    return re.compile(out + "$")


def test_paths_carry_the_parameters():
    adamw = small_adamw()
    cell = next(c for c in grid.cells(adamw) if c.eps == 1e-4)
    path = grid.cell_path(adamw, cell)
    assert path.startswith("adamw/cells/blockwise_eps0.0001_N5_d3_beta1/L8_H4_")
    assert path.endswith(".zarr")
    limit = grid.limit_path(adamw, cell.limit)
    assert limit.startswith("adamw/limit/blockwise_eps0.0001_N5_d3_beta1_")
    first = grid.cells(adamw)[0]
    assert "_eps1e-08_" in grid.cell_path(adamw, first)


def test_paths_parse_back_to_their_key():
    adamw = copy.deepcopy(DEFAULT["adamw"])
    for keys, path_of, pattern in (
        (grid.cells(adamw), grid.cell_path, grid.CELL_PATTERN),
        (grid.limits(adamw), grid.limit_path, grid.LIMIT_PATTERN),
    ):
        paths = [path_of(adamw, key) for key in keys]
        assert len(set(paths)) == len(paths)
        regex = _regex(pattern)
        for key, path in zip(keys, paths, strict=True):
            match = regex.match(path)
            assert match, path
            assert grid.find(keys, match.groupdict()) == key
    with pytest.raises(KeyError, match="no configured adamw"):
        grid.find(
            grid.cells(adamw),
            {
                "variant": "standard",
                "eps": "1",
                "N": "16",
                "d": "3",
                "beta": "1",
                "L": "16",
                "H": "16",
            },
        )


# (dotted setting, new value, changes the limit path, changes the cell path)
SETTINGS = [
    ("T", 2.0, True, True),
    ("normalisation", "none", True, True),
    ("law.atoms", 4, True, True),
    ("law.v_bar", 0.5, True, True),
    ("law.sigma_v", 0.5, True, True),
    ("law.seed", 7, True, True),
    ("task.inputs", 3, True, True),
    ("task.d_out", 1, True, True),
    ("task.teacher_atoms", 4, True, True),
    ("task.teacher_v_bar", 0.5, True, True),
    ("task.teacher_sigma_v", 2.0, True, True),
    ("task.teacher_steps", 128, True, True),
    ("task.seed", 6, True, True),
    ("optimizer.lr", 0.01, True, True),
    ("optimizer.beta1", 0.8, True, True),
    ("optimizer.beta2", 0.99, True, True),
    ("optimizer.weight_decay", 0.0, True, True),
    ("optimizer.steps", 4, True, True),
    ("limit.steps", 1024, True, True),
    ("limit.records", 128, True, True),
    ("seeds", 8, False, True),
    ("seed", 3, False, True),
    ("fits.bootstrap", 10, False, False),
    ("fits.tolerance_bias_L", 0.3, False, False),
]


@pytest.mark.parametrize(("setting", "value", "limit_changes", "cell_changes"), SETTINGS)
def test_path_hash_tracks_every_other_setting(setting, value, limit_changes, cell_changes):
    adamw = small_adamw()
    other = copy.deepcopy(adamw)
    set_in(other, setting, value)
    cell = grid.cells(adamw)[-1]
    same_limit = grid.limit_path(adamw, cell.limit) == grid.limit_path(other, cell.limit)
    same_cell = grid.cell_path(adamw, cell) == grid.cell_path(other, cell)
    assert same_limit != limit_changes
    assert same_cell != cell_changes
    # only the hash changes: the parameters in the path stay
    prefix = grid.cell_path(adamw, cell).rsplit("_", 1)[0]
    assert grid.cell_path(other, cell).rsplit("_", 1)[0] == prefix


def test_paths_do_not_depend_on_the_other_grids():
    adamw = small_adamw()
    other = copy.deepcopy(adamw)
    del other["grids"]["b"]
    for cell in grid.cells(other):
        assert grid.cell_path(other, cell) == grid.cell_path(adamw, cell)
        assert grid.limit_path(other, cell.limit) == grid.limit_path(adamw, cell.limit)


def test_schema_variants_are_the_optimizer_variants():
    schema = cfg.full_schema()
    variant = schema["$defs"]["adamw_grid"]["properties"]["variant"]
    assert tuple(variant["items"]["enum"]) == VARIANTS


def test_adamw_block_defaults():
    config = copy.deepcopy(DEFAULT)
    del config["adamw"]
    assert validate_config(config) == DEFAULT
    config = copy.deepcopy(DEFAULT)
    del config["adamw"]["grids"]["tokens"]["eps"]
    del config["adamw"]["optimizer"]["beta2"]
    out = validate_config(config)
    assert out["adamw"]["grids"]["tokens"]["eps"] == [1e-8]
    assert out["adamw"]["optimizer"]["beta2"] == 0.999
    config["experiments"] = ["heads", "sde", "adamw"]
    assert validate_config(config)["experiments"] == ["heads", "sde", "adamw"]


def test_paper_depths_divide_records():
    paper = load_config(REPO / "config" / "paper.yaml")["adamw"]
    records, steps = paper["limit"]["records"], paper["limit"]["steps"]
    assert steps % records == 0
    assert all(records % c.L == 0 for c in grid.cells(paper))


# (id, modification, substrings the message must contain: the dotted path first)
INVALID = [
    (
        "L_not_dividing_records",
        put("adamw.grids.tokens.L", [16, 48]),
        ["adamw.grids.tokens.L[1]: depth 48 does not divide adamw.limit.records = 64", "[1, 2,"],
    ),
    (
        "records_not_dividing_steps",
        put("adamw.limit.records", 96),
        [
            "adamw.limit.records: 96 does not divide adamw.limit.steps = 2048",
            "adamw.grids.depth_heads.L[4]: depth 64 does not divide adamw.limit.records = 96",
        ],
    ),
    (
        "steps_not_divisible",
        put("adamw.limit.steps", 1000),
        ["adamw.limit.records: 64 does not divide adamw.limit.steps = 1000", "500, 1000]"],
    ),
    ("odd_steps", put("adamw.limit.steps", 1023), ["adamw.limit.steps:", "multiple of 2"]),
    ("eps_zero", put("adamw.grids.eps.eps", [1e-2, 0.0]), ["adamw.grids.eps.eps[1]:", "0"]),
    ("eps_negative", put("adamw.grids.eps.eps", [-1e-8]), ["adamw.grids.eps.eps[0]:"]),
    ("eps_string", put("adamw.grids.eps.eps", ["1e-8"]), ["adamw.grids.eps.eps[0]:", "number"]),
    ("eps_empty", put("adamw.grids.eps.eps", []), ["adamw.grids.eps.eps:", "empty"]),
    (
        "unknown_variant",
        put("adamw.grids.depth_heads.variant", ["standard", "adam"]),
        ["adamw.grids.depth_heads.variant[1]: 'adam' is not one of ['standard', 'blockwise']"],
    ),
    (
        "duplicate_variant",
        put("adamw.grids.tokens.variant", ["blockwise", "blockwise"]),
        ["adamw.grids.tokens.variant:", "non-unique"],
    ),
    ("causal_mask", put("adamw.mask", "causal"), ["adamw.mask: 'causal' is not supported"]),
    ("unknown_mask", put("adamw.mask", "decoder"), ["adamw.mask:"]),
    ("two_normalisations", put("adamw.normalisation", ["sphere"]), ["adamw.normalisation:"]),
    ("unknown_normalisation", put("adamw.normalisation", "ball"), ["adamw.normalisation:"]),
    ("T_zero", put("adamw.T", 0), ["adamw.T:"]),
    ("lr_zero", put("adamw.optimizer.lr", 0), ["adamw.optimizer.lr:"]),
    ("beta1_one", put("adamw.optimizer.beta1", 1.0), ["adamw.optimizer.beta1:"]),
    ("beta2_negative", put("adamw.optimizer.beta2", -0.1), ["adamw.optimizer.beta2:"]),
    ("negative_decay", put("adamw.optimizer.weight_decay", -1), ["adamw.optimizer.weight_decay:"]),
    ("no_steps", put("adamw.optimizer.steps", 0), ["adamw.optimizer.steps:", "minimum of 1"]),
    (
        "eps_in_optimizer",
        put("adamw.optimizer.eps", 1e-8),
        ["adamw.optimizer.eps: unknown key; allowed keys: beta1, beta2, lr, steps, weight_decay"],
    ),
    ("zero_inputs", put("adamw.task.inputs", 0), ["adamw.task.inputs:"]),
    ("misspelt_task", put("adamw.task.teacher_step", 8), ["adamw.task.teacher_step: unknown"]),
    ("law_typo", put("adamw.law.atomz", 8), ["adamw.law.atomz: unknown key", "'atoms'"]),
    ("no_grids", put("adamw.grids", {}), ["adamw.grids:", "at least one"]),
    ("bad_grid_name", put("adamw.grids.my-grid", {}), ["adamw.grids.my-grid:"]),
    ("unknown_axis", put("adamw.grids.tokens.M", [8]), ["adamw.grids.tokens.M: unknown key"]),
    ("zero_N", put("adamw.grids.tokens.N.0", 0), ["adamw.grids.tokens.N[0]:", "minimum"]),
    ("fits_level", put("adamw.fits.level", 1.0), ["adamw.fits.level:"]),
    ("limit_typo", put("adamw.limit.substeps", 2), ["adamw.limit.substeps: unknown key"]),
]


@pytest.mark.parametrize(
    ("modify", "expected"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID]
)
def test_invalid_adamw_config_raises(modify: Callable[[dict], None], expected: list[str]) -> None:
    assert_invalid(DEFAULT, modify, expected)


def test_cell_memory_covers_the_parameter_snapshots_of_every_step():
    """A cell keeps R L M 3 d² parameters after each of its K + 1 steps (runs.run_cell): the
    reservation grows by 24 bytes per entry and step. The default d = 24 cell peaks at 1535 MB
    (Snakemake's max_rss, 1464 MiB, 2026-11-23); it reserved 1119 MB before this term. (The
    d = 24 cells have since moved to paper.yaml's d-study; the default settings are unchanged.)"""
    adamw = DEFAULT["adamw"]
    cell = grid.Cell("standard", 1e-8, 16, 24, 1.0, 16, 16)
    spec = grid.cell_spec(adamw, cell)
    fewer = copy.deepcopy(spec)
    fewer["optimizer"]["steps"] = spec["optimizer"]["steps"] - 2
    entries = spec["seeds"] * cell.L * spec["law"]["atoms"] * 3 * cell.d**2
    grown = grid.memory_mb(spec) - grid.memory_mb(fewer)
    assert abs(grown - 2 * grid.BYTES_PER_STORED_PARAMETER * entries / 1e6) <= 1
    assert grid.memory_mb(spec) >= 1.1 * 1535
    limit = grid.limit_spec(adamw, cell.limit)
    assert "L" not in limit and grid.memory_mb(limit) > 0  # limits: no snapshots term

"""Configuration schema and validation (attnlimits.config)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path

import jsonschema
import pytest
import yaml
from config_edits import assert_invalid, put

from attnlimits import config as cfg
from attnlimits.config import SCHEMA_PATH, ConfigError, load_config, validate_config

CONFIG_PATH = Path(__file__).resolve().parents[1] / "config" / "config.yaml"


@pytest.fixture(scope="module")
def default() -> dict:
    with open(CONFIG_PATH, encoding="utf-8") as f:
        return yaml.safe_load(f)


def _walk_keys(node: dict, root: dict, path: str = "") -> list[tuple[str, dict]]:
    """Every (dotted path, resolved subschema) of the schema's properties."""
    out = []
    for name, sub in node.get("properties", {}).items():
        sub = cfg._resolve(sub, root)
        out.append((f"{path}{name}", sub))
        out += _walk_keys(sub, root, f"{path}{name}.")
    extra = node.get("additionalProperties")
    if isinstance(extra, dict):
        out += _walk_keys(cfg._resolve(extra, root), root, f"{path}<name>.")
    return out


def test_schema_is_valid_and_documents_every_key() -> None:
    schema = cfg._load_schema(str(SCHEMA_PATH))
    jsonschema.Draft202012Validator.check_schema(schema)
    keys = _walk_keys(schema, schema)
    assert len(keys) > 40
    for path, sub in keys:
        assert sub.get("description"), f"{path} has no description"
        assert "default" in sub, f"{path} has no default"
        if sub.get("type") == "object":
            assert sub.get("additionalProperties") is not True, path
            assert "additionalProperties" in sub, f"{path} accepts unknown keys"


def test_default_config_validates(default: dict) -> None:
    out = load_config(CONFIG_PATH)
    assert out == default
    assert out is not default


def test_schema_defaults_match_default_config(default: dict) -> None:
    assert validate_config({}) == default
    assert validate_config(None) == default


def test_returns_new_dict(default: dict) -> None:
    config = copy.deepcopy(default)
    del config["heads"]["law"]["atoms"]
    out = validate_config(config)
    assert "atoms" not in config["heads"]["law"]
    out["heads"]["T"] = 7.0
    assert config["heads"]["T"] == 1.0


@pytest.mark.parametrize(
    "path",
    [
        ("results",),
        ("runtime",),
        ("runtime", "device"),
        ("heads", "law", "atoms"),
        ("heads", "law"),
        ("heads", "limit", "substeps"),
        ("heads", "fits", "level"),
        ("heads", "grids"),
        ("plots", "trajectories", "seed"),
        ("plots",),
    ],
)
def test_deleted_key_gets_its_default(default: dict, path: tuple[str, ...]) -> None:
    config = copy.deepcopy(default)
    node = config
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    assert validate_config(config) == default


def test_grid_axes_have_defaults(default: dict) -> None:
    config = copy.deepcopy(default)
    del config["heads"]["grids"]["tokens"]["beta"]
    assert validate_config(config)["heads"]["grids"]["tokens"]["beta"] == [1.0]


# (id, modification, substrings the message must contain: the dotted path first)
INVALID = [
    ("str_for_int", put("heads.seeds", "16"), ["heads.seeds:", "'integer'"]),
    ("float_for_int", put("heads.law.atoms", 8.0), ["heads.law.atoms:", "'integer'"]),
    ("bool_for_int", put("runtime.torch_threads", True), ["runtime.torch_threads:"]),
    ("str_for_number", put("heads.T", "one"), ["heads.T:", "'number'"]),
    ("list_for_object", put("heads.law", [1]), ["heads.law:", "'object'"]),
    ("zero_size", put("heads.inputs.count", 0), ["heads.inputs.count:", "minimum of 1"]),
    ("negative_size", put("heads.limit.records", -4), ["heads.limit.records:", "minimum"]),
    ("zero_in_list", put("heads.grids.tokens.N.0", 0), ["heads.grids.tokens.N[0]:", "minimum"]),
    ("negative_seed", put("heads.law.seed", -1), ["heads.law.seed:", "minimum of 0"]),
    ("negative_beta", put("heads.grids.tokens.beta", [-1.0]), ["heads.grids.tokens.beta[0]:"]),
    ("T_zero", put("heads.T", 0), ["heads.T:"]),
    ("negative_sigma_v", put("heads.law.sigma_v", -0.5), ["heads.law.sigma_v:"]),
    ("level_above_1", put("heads.fits.level", 1.5), ["heads.fits.level:", "maximum of 1"]),
    ("level_zero", put("heads.fits.level", 0.0), ["heads.fits.level:"]),
    ("solver_margin_below_1", put("heads.fits.solver_margin", 0.5), ["heads.fits.solver_margin:"]),
    ("tolerance_zero", put("heads.fits.tolerance_bias_L", 0), ["heads.fits.tolerance_bias_L:"]),
    ("negative_snr", put("heads.fits.bias_min_snr", -1), ["heads.fits.bias_min_snr:"]),
    ("unknown_experiment", put("experiments", ["heads", "sdee"]), ["experiments[1]:", "heads"]),
    ("no_experiment", put("experiments", []), ["experiments:", "empty"]),
    (
        "unknown_normalisation",
        put("heads.normalisations", ["sphere", "ball"]),
        ["heads.normalisations[1]:", "'ball' is not one of ['none', 'sphere']"],
    ),
    (
        "unknown_mask",
        put("heads.masks", ["encoder", "casual"]),
        ["heads.masks[1]: 'casual' is not one of ['encoder', 'causal']"],
    ),
    ("unknown_device", put("runtime.device", "gpu"), ["runtime.device:", "'cuda'"]),
    ("unknown_dask", put("runtime.dask", "processes"), ["runtime.dask:", "does not match"]),
    ("unknown_method", put("heads.limit.method", "euler"), ["heads.limit.method:", "'rk4'"]),
    ("unknown_format", put("plots.format", "jpg"), ["plots.format:", "'svg'"]),
    ("unknown_context", put("plots.context", "slides"), ["plots.context:", "'poster'"]),
    ("empty_grid_list", put("heads.grids.depth_heads.L", []), ["heads.grids.depth_heads.L:"]),
    ("empty_masks", put("heads.masks", []), ["heads.masks:", "empty"]),
    ("no_grids", put("heads.grids", {}), ["heads.grids:", "at least one"]),
    ("bad_grid_name", put("heads.grids.my-grid", {}), ["heads.grids.my-grid:", "A-Za-z0-9_"]),
    ("duplicate_H", put("heads.grids.depth_heads.H", [1, 4, 4]), ["depth_heads.H:", "non-unique"]),
    ("duplicate_mask", put("heads.masks", ["causal", "causal"]), ["heads.masks:", "non-unique"]),
    (
        "misspelt_top_level",
        put("experiment", ["heads"]),
        ["experiment: unknown key; allowed keys:", "did you mean 'experiments'?"],
    ),
    (
        "misspelt_nested",
        put("heads.law.atomz", 8),
        [
            "heads.law.atomz: unknown key; allowed keys: atoms, seed, sigma_v, v_bar",
            "did you mean 'atoms'?",
        ],
    ),
    ("unknown_grid_axis", put("heads.grids.tokens.M", [1]), ["heads.grids.tokens.M: unknown key"]),
    ("odd_substeps", put("heads.limit.substeps", 3), ["heads.limit.substeps:", "multiple of 2"]),
    (
        "L_not_dividing_records",
        put("heads.grids.tokens.L", [48]),
        ["heads.grids.tokens.L[0]: depth 48 does not divide heads.limit.records = 128"],
    ),
    (
        "records_not_divisible",
        put("heads.limit.records", 100),
        ["heads.grids.depth_heads.L[3]:", "heads.limit.records = 100"],
    ),
    (
        "trajectory_L_not_in_grid",
        put("plots.trajectories.L", 7),
        ["plots.trajectories.L:", "heads.grids.depth_heads.L"],
    ),
    ("trajectory_N_not_in_grid", put("plots.trajectories.N", 33), ["plots.trajectories.N:"]),
    (
        "trajectory_mask_not_simulated",
        put("heads.masks", ["causal"]),
        ["plots.trajectories.mask:", "heads.masks"],
    ),
    (
        "trajectory_normalisation_not_simulated",
        put("plots.trajectories.normalisation", "none"),
        ["plots.trajectories.normalisation:", "heads.normalisations"],
    ),
    ("trajectory_seed", put("plots.trajectories.seed", 16), ["plots.trajectories.seed:"]),
    ("trajectory_input", put("plots.trajectories.input", 4), ["plots.trajectories.input:"]),
    ("null_block", put("heads.fits", None), ["heads.fits:", "'object'"]),
    ("empty_results", put("results", ""), ["results:"]),
    ("sde_unknown_activation", put("sde.rows.0.activation", "gelu"), ["sde.rows[0].activation:"]),
    ("sde_d_one", put("sde.rows.1.d", 1), ["sde.rows[1].d:", "minimum of 2"]),
    ("sde_negative_sigma", put("sde.rows.0.sigma", -0.1), ["sde.rows[0].sigma:"]),
    ("sde_row_missing_key", put("sde.rows.0", {"activation": "relu", "d": 5}), ["sde.rows[0]"]),
    ("sde_bad_sign", put("sde.depth.attention_signs", [2]), ["sde.depth.attention_signs[0]:"]),
    ("sde_depth_not_dividing", put("sde.depth.L", [3, 8]), ["sde.depth.L[0]:", "divide"]),
    ("sde_levels_too_many", put("sde.depth.levels", 12), ["sde.depth.levels:"]),
    ("sde_zero_paths", put("sde.sync.paths", 0), ["sde.sync.paths:", "minimum of 1"]),
    ("sde_typo", put("sde.sync.two_point.epsilon", 1e-4), ["sde.sync.two_point.epsilon:"]),
    ("sde_threshold_one", put("sde.fits.cluster_threshold", 1.0), ["sde.fits.cluster_threshold:"]),
]


@pytest.mark.parametrize(
    ("modify", "expected"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID]
)
def test_invalid_config_raises(
    default: dict, modify: Callable[[dict], None], expected: list[str]
) -> None:
    assert_invalid(default, modify, expected)


def test_all_problems_are_reported(default: dict) -> None:
    config = copy.deepcopy(default)
    config["heads"]["T"] = -1
    config["plots"]["dpi"] = 0
    with pytest.raises(ConfigError, match=r"(?s)heads\.T: .*plots\.dpi: "):
        validate_config(config)


def test_cuda_unavailable(default: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cfg, "_cuda_available", lambda: False)
    config = copy.deepcopy(default)
    config["runtime"]["device"] = "cuda"
    with pytest.raises(ConfigError, match=r"runtime\.device: 'cuda'"):
        validate_config(config)
    config["runtime"]["device"] = "auto"
    assert validate_config(config)["runtime"]["device"] == "auto"


def test_cuda_available(default: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cfg, "_cuda_available", lambda: True)
    config = copy.deepcopy(default)
    config["runtime"]["device"] = "cuda"
    assert validate_config(config)["runtime"]["device"] == "cuda"


def test_dask_address_needs_distributed(default: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    config = copy.deepcopy(default)
    config["runtime"]["dask"] = "tcp://127.0.0.1:8786"
    assert validate_config(config)["runtime"]["dask"] == "tcp://127.0.0.1:8786"
    real = cfg.importlib.util.find_spec
    monkeypatch.setattr(
        cfg.importlib.util, "find_spec", lambda name: None if name == "distributed" else real(name)
    )
    with pytest.raises(
        ConfigError, match=r"runtime\.dask: 'tcp://127\.0\.0\.1:8786' .*distributed"
    ):
        validate_config(config)


def test_experiment_block_required(default: dict, tmp_path: Path) -> None:
    schema = yaml.safe_load(SCHEMA_PATH.read_text(encoding="utf-8"))
    del schema["properties"]["heads"]["default"]
    path = tmp_path / "schema.yaml"
    path.write_text(yaml.safe_dump(schema), encoding="utf-8")
    config = copy.deepcopy(default)
    del config["heads"]
    with pytest.raises(ConfigError, match=r"heads: block missing"):
        validate_config(config, schema_path=path)


def test_load_config_rejects_non_mapping(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("- heads\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="<config>"):
        load_config(path)


@pytest.mark.parametrize("path", sorted(CONFIG_PATH.parent.glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_config_validates(path: Path) -> None:
    out = load_config(path)
    assert out["experiments"]
    for name in out["experiments"]:
        assert name in out

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
from attnlimits.registry import BUILTIN, Experiment, registered, resolve

REPO = Path(__file__).resolve().parents[1]
CONFIG_PATH = REPO / "config" / "config.yaml"


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
    schema = cfg.full_schema()
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


def test_experiment_block_required(default: dict) -> None:
    # Every block has the default {} (merge_blocks), so only a config that skipped the schema's
    # defaults misses one.
    config = validate_config(default)
    del config["heads"]
    problems = list(cfg._semantic_problems(config, registered()))
    assert problems == ["heads: block missing for experiment 'heads' listed in experiments"]


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


# Each experiment declares the schema of its block and its checks in its own package.


def _refs(node: object) -> set[str]:
    """The names of the ``#/$defs/...`` that ``node`` refers to."""
    if isinstance(node, dict):
        own = {node["$ref"].removeprefix("#/$defs/")} if "$ref" in node else set()
        return own.union(*(_refs(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(_refs(v) for v in node))
    return set()


def test_every_experiment_block_comes_from_its_package() -> None:
    main = cfg._load_schema(str(SCHEMA_PATH))
    schema = cfg.full_schema()
    experiments = registered()
    assert list(experiments) == list(BUILTIN)
    for name, experiment in experiments.items():
        assert experiment.schema == f"attnlimits.{name}:schema.yaml"
        assert experiment.check == f"attnlimits.{name}.checks:problems"
        assert name not in main["properties"]
        block = cfg.block_schema(experiment)
        own = block.pop("$defs")
        assert schema["properties"][name] == {**block, "default": {}}
        assert own and not set(own) & set(main["$defs"])
        assert all(schema["$defs"][key] == value for key, value in own.items())
    # the blocks come before plots, the order of config/config.yaml and of the reported problems
    assert list(schema["properties"]) == [*main["properties"]][:-1] + [*BUILTIN, "plots"]
    assert schema["properties"]["experiments"]["items"]["enum"] == list(BUILTIN)


def test_the_main_schema_keeps_only_shared_definitions() -> None:
    """A definition of the main schema serves its shared keys or several experiments; one that
    serves a single experiment lives in that experiment's schema.yaml."""
    main = cfg._load_schema(str(SCHEMA_PATH))
    schema = cfg.full_schema()

    def closure(node: object) -> set[str]:
        seen: set[str] = set()
        todo = _refs(node)
        while todo:
            name = todo.pop()
            if name not in seen:
                seen.add(name)
                todo |= _refs(schema["$defs"][name])
        return seen

    shared = closure(main["properties"])
    users: dict[str, list[str]] = {}
    for name in BUILTIN:
        for key in closure(schema["properties"][name]):
            users.setdefault(key, []).append(name)
    for key in main["$defs"]:
        assert key in shared or len(users.get(key, [])) > 1, key
    for key in set(schema["$defs"]) - set(main["$defs"]):
        assert len(users[key]) == 1 and key not in shared, key


def test_schema_files_are_package_data() -> None:
    """The wheel installs every built-in schema file (pyproject.toml's package-data)."""
    import tomllib
    from fnmatch import fnmatch

    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = pyproject["tool"]["setuptools"]["package-data"]["attnlimits"]
    for experiment in registered().values():
        assert experiment.schema is not None
        package, _, file = experiment.schema.partition(":")
        path = "/".join([*package.split(".")[1:], file])
        assert any(fnmatch(path, pattern) for pattern in patterns), path
        assert (REPO / "src" / Path(*package.split(".")) / file).is_file()


@pytest.mark.parametrize(
    ("name", "modify", "expected"),
    [
        ("heads", put("heads.grids.tokens.L", [48]), "heads.grids.tokens.L[0]: depth 48"),
        ("sde", put("sde.depth.L", [3, 8]), "sde.depth.L[0]: depth 3 does not divide"),
        ("adamw", put("adamw.limit.records", 60), "adamw.limit.records: 60 does not divide"),
        ("lowtemp", put("lowtemp.fits.times", [0.3]), "lowtemp.fits.times[0]: 0.3 is not a"),
    ],
)
def test_an_experiment_check_reports_a_bad_value(
    default: dict, name: str, modify: Callable[[dict], None], expected: str
) -> None:
    assert_invalid(default, modify, [expected])
    config = validate_config(default)
    modify(config)
    check = registered()[name].check
    assert check is not None
    assert any(expected in problem for problem in resolve(check)(config))


PLUGIN = """
from attnlimits.registry import Experiment

def schema():
    return {
        "type": "object",
        "additionalProperties": False,
        "properties": {"k": {"$ref": "#/$defs/DEF", "default": 3}},
        "$defs": {"DEF": {"type": "integer", "minimum": 2}},
    }

EXPERIMENT = Experiment(
    name="NAME", title="t", jobs=(), tables={}, figures={}, claims="m:C", schema="MODULE:schema"
)
"""


def _plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, definition: str) -> str:
    """A plugin module whose block ``name`` has a ``$defs`` entry named ``definition``."""
    module = f"plugin_{name}_{definition}"
    text = PLUGIN.replace("NAME", name).replace("MODULE", module).replace("DEF", definition)
    (tmp_path / f"{module}.py").write_text(text, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    return module


def test_a_plugin_block_has_its_own_definitions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = _plugin(tmp_path, monkeypatch, "extra", "extra_count")
    config = {"plugins": [module], "experiments": ["extra"]}
    assert validate_config(config)["extra"] == {"k": 3}
    with pytest.raises(ConfigError, match=r"extra\.k: 1 is less than the minimum of 2"):
        validate_config({**config, "extra": {"k": 1}})
    tiny = validate_config({"plugins": ["tiny_experiment.experiment"], "experiments": ["tiny"]})
    assert tiny["tiny"]["N"] == [4, 16]


@pytest.mark.parametrize(
    ("definition", "owner"),
    [("size", "the main schema"), ("grid", "experiment 'heads'"), ("sde_row", "experiment 'sde'")],
)
def test_a_plugin_definition_clash_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, definition: str, owner: str
) -> None:
    module = _plugin(tmp_path, monkeypatch, "clash", definition)
    with pytest.raises(ConfigError) as info:
        validate_config({"plugins": [module], "experiments": ["clash"]})
    assert str(info.value) == (
        "invalid configuration:\n"
        f"plugins: experiment 'clash': its schema defines $defs/{definition}, already defined "
        f"by {owner}; use that definition or rename this one"
    )


def test_a_plugin_named_like_a_shared_key_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = _plugin(tmp_path, monkeypatch, "runtime", "runtime_count")
    with pytest.raises(ConfigError, match="experiment 'runtime' is named like the shared config"):
        validate_config({"plugins": [module]})


def test_a_schema_file_of_a_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``Experiment.schema`` may name a YAML file of a package, as the built-in ones do."""
    package = tmp_path / "yaml_plugin"
    package.mkdir()
    (package / "__init__.py").write_text("", encoding="utf-8")
    block = {"type": "object", "additionalProperties": False, "properties": {"k": {"default": 1}}}
    (package / "block.yaml").write_text(yaml.safe_dump(block), encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    experiment = Experiment("y", "t", (), {}, {}, "m:C", schema="yaml_plugin:block.yaml")
    assert cfg.block_schema(experiment) == block
    (package / "bad.yaml").write_text("type: object\nproperties: {k: {type: 5}}\n", "utf-8")
    bad = Experiment("y", "t", (), {}, {}, "m:C", schema="yaml_plugin:bad.yaml")
    with pytest.raises(ValueError, match=r"yaml_plugin:bad\.yaml\) is not a valid JSON schema"):
        cfg.block_schema(bad)

"""Loading and validation of the pipeline configuration (config/config.yaml).

The configuration is checked against the JSON schema ``workflow/schemas/config.schema.yaml``
(types, ranges, enums, unknown keys), with every missing key filled from its schema ``default``,
then against the rules that span several keys (depths dividing the solver's records, the
trajectory cell belonging to a grid, ...). Every problem is reported on its own line, prefixed
with the dotted path of the offending key, e.g. ``heads.grids.depth_heads.L[2]: ...``.
"""

from __future__ import annotations

import copy
import difflib
import functools
import importlib.util
import math
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from attnlimits.registry import Experiment, registered, resolve

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"

GRID_AXES = ("N", "d", "beta", "L", "H")


class ConfigError(ValueError):
    """An invalid configuration; the message holds one problem per line."""


def _strict_int(_checker: Any, instance: Any) -> bool:
    """JSON-schema ``integer`` without floats such as 16.0 and without booleans."""
    return isinstance(instance, int) and not isinstance(instance, bool)


_Validator = jsonschema.validators.extend(
    jsonschema.Draft202012Validator,
    type_checker=jsonschema.Draft202012Validator.TYPE_CHECKER.redefine("integer", _strict_int),
)


@functools.lru_cache(maxsize=8)
def _load_schema(path: str) -> dict:
    with open(path, encoding="utf-8") as f:
        schema = yaml.safe_load(f)
    jsonschema.Draft202012Validator.check_schema(schema)
    return schema


def _resolve(node: Mapping, root: Mapping) -> dict:
    """``node`` with its local ``$ref`` (``#/...``) merged in; the node's own keys win."""
    node = dict(node)
    while "$ref" in node:
        ref = node.pop("$ref")
        if not ref.startswith("#/"):
            raise ValueError(f"only local $ref are supported, got {ref!r}")
        target: Any = root
        for part in ref[2:].split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        node = {**target, **node}
    return node


def _fill_defaults(value: Any, node: Mapping, root: Mapping) -> None:
    """Insert, in place and recursively, the schema default of every missing object key."""
    node = _resolve(node, root)
    if isinstance(value, dict):
        props = node.get("properties", {})
        for name, sub in props.items():
            sub = _resolve(sub, root)
            if name not in value and "default" in sub:
                value[name] = copy.deepcopy(sub["default"])
        extra = node.get("additionalProperties")
        for name, item in value.items():
            sub = props.get(name, extra if isinstance(extra, Mapping) else None)
            if sub is not None:
                _fill_defaults(item, sub, root)
    elif isinstance(value, list) and isinstance(node.get("items"), Mapping):
        for item in value:
            _fill_defaults(item, node["items"], root)


def _dotted(path: Sequence[str | int]) -> str:
    """``("heads", "grids", "g", "L", 2)`` -> ``"heads.grids.g.L[2]"``; the root is ``<config>``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "<config>"


def _schema_problems(config: dict, schema: dict) -> Iterator[str]:
    """One line per schema violation, in the order of the schema."""
    for error in _Validator(schema).iter_errors(config):
        path = list(error.absolute_path)
        if error.validator == "additionalProperties" and error.validator_value is False:
            allowed = sorted(error.schema.get("properties", {}))
            for key in (k for k in error.instance if k not in allowed):
                line = f"{_dotted([*path, key])}: unknown key; allowed keys: {', '.join(allowed)}"
                close = difflib.get_close_matches(str(key), allowed, n=1)
                yield line + (f"; did you mean {close[0]!r}?" if close else "")
        elif error.validator in ("minItems", "minProperties") and error.validator_value == 1:
            yield f"{_dotted(path)}: empty; at least one entry is required"
        elif "propertyNames" in error.relative_schema_path:
            yield f"{_dotted([*path, error.instance])}: invalid name; {error.message}"
        elif error.validator == "oneOf" and error.context:
            yield from _one_of_problems(error, path)
        else:
            yield f"{_dotted(path)}: {error.message}"


def _one_of_problems(error: jsonschema.ValidationError, path: list) -> Iterator[str]:
    """A ``oneOf`` of objects told apart by a ``const`` key (a lowtemp head's ``kind``): the
    errors of the branch whose ``const`` matched (a missing ``scale``), or the allowed values of
    the key when none did, rather than "not valid under any of the given schemas"."""
    branches: dict[int, list] = {}
    for sub in error.context:
        branches.setdefault(sub.relative_schema_path[0], []).append(sub)
    consts = [s for s in error.context if s.validator == "const"]
    matched = [subs for subs in branches.values() if not any(s in consts for s in subs)]
    if len(matched) == 1:
        for sub in matched[0]:
            yield f"{_dotted([*path, *sub.relative_path])}: {sub.message}"
    elif len(consts) == len(branches) and len({tuple(s.relative_path) for s in consts}) == 1:
        allowed = [s.validator_value for s in consts]
        where = _dotted([*path, *consts[0].relative_path])
        yield f"{where}: {consts[0].instance!r} is not one of {allowed}"
    else:
        yield f"{_dotted(path)}: {error.message}"


def _divisors(n: int) -> list[int]:
    small = [k for k in range(1, math.isqrt(n) + 1) if n % k == 0]
    return sorted({*small, *(n // k for k in small)})


def _cuda_available() -> bool:
    """``torch.cuda.is_available()``; torch is imported only when a config asks for cuda."""
    import torch

    return torch.cuda.is_available()


def _semantic_problems(config: dict, experiments: Mapping[str, Experiment]) -> Iterator[str]:
    """One line per violated rule spanning several keys (the schema has passed)."""
    for name in config["experiments"]:
        if not isinstance(config.get(name), dict):
            yield f"{name}: block missing for experiment {name!r} listed in experiments"

    if config["runtime"]["device"] == "cuda" and not _cuda_available():
        yield (
            "runtime.device: 'cuda' is requested but torch.cuda.is_available() is False; "
            "allowed here: ['cpu', 'auto']"
        )

    yield from _dask_problems(config["runtime"]["dask"])

    for name, experiment in experiments.items():
        if experiment.check is not None and isinstance(config.get(name), dict):
            yield from resolve(experiment.check)(config)


def heads_problems(config: dict) -> Iterator[str]:
    """The rules of experiment ``heads`` (its registry entry's ``check``)."""
    yield from _heads_problems(config["heads"], config["plots"]["trajectories"])


def sde_problems(config: dict) -> Iterator[str]:
    """The rules of experiment ``sde``."""
    yield from _sde_problems(config["sde"])


def adamw_problems(config: dict) -> Iterator[str]:
    """The rules of experiment ``adamw``."""
    yield from _adamw_problems(config["adamw"])


def lowtemp_problems(config: dict) -> Iterator[str]:
    """The rules of experiment ``lowtemp``."""
    yield from _lowtemp_problems(config["lowtemp"])


def _dask_problems(scheduler: str) -> Iterator[str]:
    """A scheduler address needs the ``distributed`` package (checked, not connected to)."""
    if "://" in scheduler and importlib.util.find_spec("distributed") is None:
        yield (
            f"runtime.dask: {scheduler!r} is the address of a Dask cluster, but the `distributed` "
            "package is not installed (pip install distributed); or use 'synchronous' / 'threads'"
        )


def _sde_problems(sde: dict) -> Iterator[str]:
    """Depths dividing the reference's layers; the reference ladder finer than every depth."""
    depth = sde["depth"]
    for i, layers in enumerate(depth["L"]):
        if depth["fine"] % layers:
            yield (
                f"sde.depth.L[{i}]: depth {layers} does not divide sde.depth.fine = "
                f"{depth['fine']}; choose L among its divisors or change fine"
            )
    coarsest_level = depth["fine"] // 2 ** depth["levels"]
    if depth["fine"] % 2 ** depth["levels"] or coarsest_level < max(depth["L"]):
        yield (
            f"sde.depth.levels: {depth['levels']} halvings of sde.depth.fine = {depth['fine']} "
            f"must stay whole and at least max(sde.depth.L) = {max(depth['L'])}"
        )


def _depth_problems(name: str, block: dict) -> Iterator[str]:
    """Every depth L of the grids of experiment ``name`` divides its ``limit.records``."""
    records = block["limit"]["records"]
    for gname, grid in block["grids"].items():
        for i, depth in enumerate(grid["L"]):
            if records % depth:
                yield (
                    f"{name}.grids.{gname}.L[{i}]: depth {depth} does not divide "
                    f"{name}.limit.records = {records}; choose L among the divisors "
                    f"{_divisors(records)} or change records"
                )


def _adamw_problems(adamw: dict) -> Iterator[str]:
    """Depths dividing the limit's records, records dividing its steps; the encoder mask only.

    The variants (standard, blockwise) and eps > 0 are checked by the schema.
    """
    if adamw["mask"] != "encoder":
        yield (
            f"adamw.mask: {adamw['mask']!r} is not supported; the limit of experiment adamw "
            "(MODELS.md) is a McKean-Vlasov ODE without causal mask; allowed: ['encoder']"
        )
    steps, records = adamw["limit"]["steps"], adamw["limit"]["records"]
    if steps % records:
        yield (
            f"adamw.limit.records: {records} does not divide adamw.limit.steps = {steps}; "
            f"choose records among the divisors {_divisors(steps)} or change steps"
        )
    yield from _depth_problems("adamw", adamw)


def _on_grid(value: float, horizon: float, records: int) -> bool:
    step = horizon / records
    return 0 <= value <= horizon and abs(value / step - round(value / step)) < 1e-9


def _window_problems(where: str, window: list[float], horizon: float) -> Iterator[str]:
    if not window[0] < window[1] <= horizon:
        yield f"{where}: {window} must satisfy t_a < t_b <= the horizon {horizon:g}"


def _lowtemp_problems(lowtemp: dict) -> Iterator[str]:
    """The measure's dimension, the heads (V's size, QᵀK positive definite), the terminal heads,
    the mean-field regime N >= factor * beta^(k/2) (MODELS.md), times on the record grid."""
    from attnlimits.lowtemp.measures import particle_count, regime_problems

    measure, heads = lowtemp["measure"], lowtemp["heads"]
    d = measure["d"]
    if measure["kind"] == "disc" and d != 2:
        yield f"lowtemp.measure.d: the disc lives in d = 2, got {d}"
        return
    for name, head in heads.items():
        if head["kind"] == "diagonal" and len(head["v"]) != d:
            yield f"lowtemp.heads.{name}.v: {len(head['v'])} entries, lowtemp.measure.d = {d}"
    if any(h["kind"] == "random" for h in heads.values()):
        yield from _random_head_problems(heads, d)
    for i, name in enumerate(lowtemp["terminal"]["heads"]):
        if name not in heads:
            yield f"lowtemp.terminal.heads[{i}]: {name!r} is not in lowtemp.heads {sorted(heads)}"
    n = particle_count(measure["kind"], measure["size"], d)
    regime = lowtemp["regime"]
    if not regime["allow_outside"]:
        for i, beta in enumerate(lowtemp["betas"]):
            for problem in regime_problems(n, d, [float(beta)], regime["factor"]):
                yield (
                    f"lowtemp.betas[{i}]: outside the mean-field regime: {problem}; raise "
                    "lowtemp.measure.size, drop this beta, or set "
                    "lowtemp.regime.allow_outside: true to run it anyway"
                )
    horizon, records = lowtemp["horizon"], lowtemp["records"]
    for i, t in enumerate(lowtemp["fits"]["times"]):
        if not _on_grid(t, horizon, records):
            yield (
                f"lowtemp.fits.times[{i}]: {t} is not a record time, a multiple of "
                f"lowtemp.horizon / lowtemp.records = {horizon / records:g} up to {horizon:g}"
            )
    fits = lowtemp["fits"]
    yield from _window_problems("lowtemp.fits.phase_window", fits["phase_window"], horizon)
    yield from _window_problems(
        "lowtemp.fits.terminal_window", fits["terminal_window"], lowtemp["terminal"]["horizon"]
    )


def _random_head_problems(heads: dict, d: int) -> Iterator[str]:
    """QᵀK positive definite for the random heads (torch is imported only for them)."""
    from attnlimits.lowtemp.runs import make_head

    for name, head in heads.items():
        if head["kind"] == "random":
            try:
                make_head(head, d)
            except ValueError as err:
                yield f"lowtemp.heads.{name}: {err}"


def _heads_problems(heads: dict, cell: dict) -> Iterator[str]:
    """Depths dividing the solver's records; the trajectory cell ``cell`` simulated by heads."""
    yield from _depth_problems("heads", heads)

    where = "plots.trajectories"
    for key, allowed in (("mask", "masks"), ("normalisation", "normalisations")):
        if cell[key] not in heads[allowed]:
            yield f"{where}.{key}: {cell[key]!r} is not in heads.{allowed} = {heads[allowed]}"
    # The grid that misses the cell on the fewest axes names the axes to change.
    misses = min(
        (
            [(g, a) for a in GRID_AXES if cell[a] not in grid[a]]
            for g, grid in heads["grids"].items()
        ),
        key=len,
    )
    for gname, axis in misses:
        yield (
            f"{where}.{axis}: {cell[axis]!r} is not in heads.grids.{gname}.{axis} = "
            f"{heads['grids'][gname][axis]} (closest grid); the cell "
            f"({', '.join(f'{a}={cell[a]}' for a in GRID_AXES)}) must belong to one grid"
        )
    if cell["seed"] >= heads["seeds"]:
        yield f"{where}.seed: {cell['seed']} is not below heads.seeds = {heads['seeds']}"
    if cell["input"] >= heads["inputs"]["count"]:
        yield (
            f"{where}.input: {cell['input']} is not below "
            f"heads.inputs.count = {heads['inputs']['count']}"
        )


def _with_plugins(schema: dict, config: dict) -> tuple[dict, list[str], Mapping[str, Experiment]]:
    """The schema with the block of every registered experiment (built-in ones are in the
    schema file; a plugin declares its own, ``Experiment.schema``), the experiment names
    restricted to the registered ones; and the problems of ``plugins`` and ``experiments``."""
    plugins = config.get("plugins", [])
    if not (isinstance(plugins, list) and all(isinstance(p, str) for p in plugins)):
        return schema, ["plugins: must be a list of module names"], {}
    try:
        experiments = registered(plugins)
    except (ImportError, TypeError, ValueError) as err:
        return schema, [f"plugins: {err}"], {}
    schema = copy.deepcopy(schema)
    props = schema["properties"]
    for name, experiment in experiments.items():
        if name not in props:
            if experiment.schema is None:
                problem = f"plugins: experiment {name!r} declares no schema for its block"
                return schema, [problem], experiments
            props[name] = {**resolve(experiment.schema)(), "default": {}}
    names = props["experiments"]["items"]
    names["enum"] = list(experiments)
    return schema, [], experiments


def validate_config(config: Mapping | None, schema_path: str | Path = SCHEMA_PATH) -> dict:
    """Validate ``config`` and return a new dict with every missing key set to its default.

    ``None`` (an empty YAML file) counts as ``{}``. Raises :class:`ConfigError` listing every
    problem, one per line, each prefixed by the dotted path of its key. Schema problems are
    reported first; the rules spanning several keys are checked only once the schema passes.
    """
    out = copy.deepcopy(dict(config)) if config is not None else {}
    schema, problems, experiments = _with_plugins(
        _load_schema(str(Path(schema_path).resolve())), out
    )
    if problems:
        raise ConfigError("invalid configuration:\n" + "\n".join(problems))
    _fill_defaults(out, schema, schema)
    problems = list(dict.fromkeys(_schema_problems(out, schema)))
    if not problems:
        problems = list(_semantic_problems(out, experiments))
    if problems:
        raise ConfigError("invalid configuration:\n" + "\n".join(problems))
    return out


def load_config(path: str | Path, schema_path: str | Path = SCHEMA_PATH) -> dict:
    """Read the YAML file ``path`` and return it validated, with defaults filled in."""
    with open(path, encoding="utf-8") as f:
        raw = yaml.safe_load(f)
    if raw is not None and not isinstance(raw, Mapping):
        raise ConfigError(f"<config>: {path} holds a {type(raw).__name__}, not a mapping of keys")
    return validate_config(raw, schema_path)

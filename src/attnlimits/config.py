"""Loading and validation of the pipeline configuration (config/config.yaml).

The configuration is checked against a JSON schema (types, ranges, enums, unknown keys), with
every missing key filled from its schema ``default``, then against the rules that span several
keys (depths dividing the solver's records, the trajectory cell belonging to a grid, ...). The
schema is ``config.schema.yaml``, data of this package (the shared keys and shared
definitions), with the block of every registered experiment merged in, the schema it declares
in its own package (``Experiment.schema``, e.g. ``attnlimits/heads/schema.yaml``); the rules
spanning an experiment's keys are its ``Experiment.check`` (e.g. ``attnlimits.heads.checks``).
Every problem is reported on its own line, prefixed with the dotted path of the offending key,
e.g. ``heads.grids.depth_heads.L[2]: ...``.

Beyond the JSON schema's own keywords, every number must be finite wherever the schema says
``number`` (NaN and ±inf pass JSON schema's ``minimum``: NaN compares false, so it would
otherwise run every job and fill every table with NaN), unless its schema says
``x-allow-infinity: true`` (then +inf and -inf pass, NaN never does); every ``integer`` must fit a
64-bit signed integer (the arrays and stores that receive it). A schema's ``x-message`` is
added to the message of a value it refuses, a ``not`` is reported with its ``description``.
Last, the largest job of every kind must fit ``runtime.budget`` (:mod:`attnlimits.budget`).
A YAML file (:func:`load_config`, and the config files of a Snakemake run) may not repeat a key.
"""

from __future__ import annotations

import copy
import difflib
import functools
import importlib.resources
import importlib.util
import math
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from attnlimits.budget import budget_problems
from attnlimits.registry import Experiment, registered, resolve


def _package_file(name: str) -> Path:
    """The data file ``name`` of this package, as a file on disk (package data, installed next
    to the modules by a wheel or an editable install alike)."""
    found = importlib.resources.files("attnlimits").joinpath(name)
    if not isinstance(found, Path):
        raise RuntimeError(f"attnlimits is not installed as files ({found}); install it with pip")
    return found


#: The main schema: the shared top-level keys and the shared definitions (``$defs``).
SCHEMA_PATH = _package_file("config.schema.yaml")

#: Shared top-level keys placed after the experiments' blocks (the figures' settings, last as in
#: config/config.yaml): the defaults are filled in, and the problems reported, in schema order.
AFTER_BLOCKS = ("plots",)
#: The endings of an ``Experiment.schema`` naming a file of a package, not a function.
SCHEMA_FILES = (".yaml", ".yml", ".json")


class ConfigError(ValueError):
    """An invalid configuration; the message holds one problem per line."""


def _strict_int(_checker: Any, instance: Any) -> bool:
    """JSON-schema ``integer`` without floats such as 16.0 and without booleans."""
    return isinstance(instance, int) and not isinstance(instance, bool)


#: The schema keyword that lets a number be +inf or -inf (never NaN); the main schema's
#: runtime.budget uses it (``.inf``: no limit).
ALLOW_INFINITY = "x-allow-infinity"
_DRAFT_TYPE = jsonschema.Draft202012Validator.VALIDATORS["type"]
#: The largest integer a config may hold (a 64-bit signed integer: numpy, torch, the stores).
INT64_MAX = 2**63 - 1


def _type(validator: Any, types: Any, instance: Any, schema: Mapping) -> Iterator[Any]:
    """JSON schema's ``type``, and then: a number must be finite (NaN never; ±inf only where the
    schema says ``x-allow-infinity: true``), an integer must fit 64 bits."""
    errors = list(_DRAFT_TYPE(validator, types, instance, schema))
    yield from errors
    if errors or isinstance(instance, bool):
        return
    if isinstance(instance, float) and not math.isfinite(instance):
        if math.isnan(instance) or not schema.get(ALLOW_INFINITY, False):
            allowed = "; +inf and -inf are allowed" if schema.get(ALLOW_INFINITY) else ""
            yield jsonschema.ValidationError(
                f"{instance!r} is not a finite number{allowed}", validator="finite"
            )
    elif isinstance(instance, int) and abs(instance) > INT64_MAX:
        yield jsonschema.ValidationError(
            f"{instance} does not fit a 64-bit integer (at most {INT64_MAX})", validator="int64"
        )


_Validator = jsonschema.validators.extend(
    jsonschema.Draft202012Validator,
    validators={"type": _type},
    type_checker=jsonschema.Draft202012Validator.TYPE_CHECKER.redefine("integer", _strict_int),
)


@functools.lru_cache(maxsize=8)
def _load_schema(path: str) -> dict:
    with open(path, encoding="utf-8") as f:
        schema = yaml.safe_load(f)
    jsonschema.Draft202012Validator.check_schema(schema)
    return schema


def block_schema(experiment: Experiment) -> dict:
    """The JSON schema of the config block of ``experiment``, a new dict: its
    ``Experiment.schema``, either ``"package:file.yaml"`` (a YAML or JSON file inside that
    package, e.g. ``"attnlimits.heads:schema.yaml"``) or ``"module:function"`` (the function,
    called without arguments, returns the schema). Its ``$defs``, if any, are its own
    definitions (:func:`merge_blocks`)."""
    if experiment.schema is None:
        raise ValueError(f"experiment {experiment.name!r} declares no schema for its block")
    return copy.deepcopy(_declared_block(experiment.name, experiment.schema))


@functools.lru_cache(maxsize=32)
def _declared_block(name: str, target: str) -> dict:
    """The schema named by ``target``, checked against the JSON-schema metaschema (once)."""
    package, _, file = target.partition(":")
    if file.endswith(SCHEMA_FILES):
        try:
            text = importlib.resources.files(package).joinpath(file).read_text(encoding="utf-8")
            block = yaml.safe_load(text)
        except (OSError, yaml.YAMLError) as err:
            raise ValueError(
                f"experiment {name!r}: the schema of its block ({target}) cannot be read: {err}"
            ) from None
    else:
        block = resolve(target)()
    if not isinstance(block, Mapping):
        raise TypeError(
            f"experiment {name!r}: the schema of its block ({target}) is a "
            f"{type(block).__name__}, not a mapping"
        )
    try:
        jsonschema.Draft202012Validator.check_schema(block)
    except jsonschema.SchemaError as err:
        where = "/".join(str(p) for p in err.path) or "<block>"
        raise ValueError(
            f"experiment {name!r}: the schema of its block ({target}) is not a valid JSON "
            f"schema at {where}: {err.message}"
        ) from None
    return dict(block)


def merge_blocks(schema: Mapping, experiments: Mapping[str, Experiment]) -> dict:
    """The main ``schema`` (a new dict) with the block of each experiment under ``properties``.

    Every experiment, built-in or plugin, goes the same way: its block (:func:`block_schema`)
    becomes the top-level key named like it, with ``default: {}`` (an experiment listed without
    its block runs with its defaults), placed before the shared keys of :data:`AFTER_BLOCKS`;
    the block's own ``$defs`` move to the root's, so that its ``#/$defs/...`` references resolve.
    A definition named like one of the main schema or of an earlier experiment, or an experiment
    named like a shared key, raises :class:`ValueError`. The names allowed in ``experiments``
    are those of ``experiments``.
    """
    schema = copy.deepcopy(dict(schema))
    defs = schema.setdefault("$defs", {})
    owners = dict.fromkeys(defs, "the main schema")
    props = schema["properties"]
    blocks = {}
    for name, experiment in experiments.items():
        if name in props:
            raise ValueError(f"experiment {name!r} is named like the shared config key {name!r}")
        block = block_schema(experiment)
        for key, definition in block.pop("$defs", {}).items():
            if key in defs:
                raise ValueError(
                    f"experiment {name!r}: its schema defines $defs/{key}, already defined by "
                    f"{owners[key]}; use that definition or rename this one"
                )
            defs[key], owners[key] = definition, f"experiment {name!r}"
        blocks[name] = {**block, "default": {}}
    after = {key: props.pop(key) for key in AFTER_BLOCKS if key in props}
    props.update(blocks)
    props.update(after)
    props["experiments"]["items"]["enum"] = list(experiments)
    return schema


def full_schema(plugins: Sequence[str] = (), schema_path: str | Path = SCHEMA_PATH) -> dict:
    """The JSON schema of a configuration whose ``plugins`` are ``plugins``: the main schema
    with the block of every registered experiment (:func:`merge_blocks`)."""
    main = _load_schema(str(Path(schema_path).resolve()))
    return merge_blocks(main, registered(plugins))


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
        elif error.validator == "not":
            why = (error.validator_value or {}).get("description")
            suffix = f": {why}" if why else ""
            yield f"{_dotted(path)}: {error.instance!r} is not allowed{suffix}"
        else:
            yield f"{_dotted(path)}: {error.message}" + _hint(error.schema)


def _hint(schema: Any) -> str:
    """The ``x-message`` of the subschema that refused a value, as a suffix of its line."""
    hint = schema.get("x-message") if isinstance(schema, Mapping) else None
    return f" ({hint})" if hint else ""


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
    yield from _batch_problems(config["runtime"]["cells_per_job"], experiments)

    for name, experiment in experiments.items():  # those the configuration runs
        if name in config["experiments"] and experiment.check is not None:
            if isinstance(config.get(name), dict):
                yield from resolve(experiment.check)(config)


def _batch_problems(
    chosen: Mapping[str, int], experiments: Mapping[str, Experiment]
) -> Iterator[str]:
    """Every key of ``runtime.cells_per_job`` names a batched job kind (``<experiment>_<job>``)."""
    batched = sorted(
        f"{name}_{job.name}" for name, e in experiments.items() for job in e.jobs if job.batched
    )
    for rule in chosen:
        if rule not in batched:
            yield (
                f"runtime.cells_per_job.{rule}: no batched job of that name; "
                f"allowed here: {batched}"
            )


def _dask_problems(scheduler: str) -> Iterator[str]:
    """A scheduler address needs the ``distributed`` package (checked, not connected to)."""
    if "://" in scheduler and importlib.util.find_spec("distributed") is None:
        yield (
            f"runtime.dask: {scheduler!r} is the address of a Dask cluster, but the `distributed` "
            "package is not installed (pip install distributed); or use 'synchronous' / 'threads'"
        )


def _with_plugins(schema: dict, config: dict) -> tuple[dict, list[str], Mapping[str, Experiment]]:
    """The schema with the block of every registered experiment (the built-in ones and those of
    ``plugins``; :func:`merge_blocks`); and the problems of ``plugins`` and ``experiments``."""
    plugins = config.get("plugins", [])
    if not (isinstance(plugins, list) and all(isinstance(p, str) for p in plugins)):
        return schema, ["plugins: must be a list of module names"], {}
    try:
        experiments = registered(plugins)
    except (ImportError, TypeError, ValueError) as err:
        return schema, [f"plugins: {err}"], {}
    try:
        return merge_blocks(schema, experiments), [], experiments
    except (ImportError, TypeError, ValueError) as err:
        return schema, [f"plugins: {err}"], experiments


def validate_config(config: Mapping | None, schema_path: str | Path = SCHEMA_PATH) -> dict:
    """Validate ``config`` and return a new dict with every missing key set to its default.

    ``None`` (an empty YAML file) counts as ``{}``. Raises :class:`ConfigError` listing every
    problem, one per line, each prefixed by the dotted path of its key. Schema problems are
    reported first; the rules spanning several keys are checked only once the schema passes,
    and the budget of the largest jobs (:mod:`attnlimits.budget`) once those pass too.
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
    if not problems:
        problems = list(budget_problems(out, experiments, schema))
    if problems:
        raise ConfigError("invalid configuration:\n" + "\n".join(problems))
    return out


def duplicate_keys(text: str, where: str = "<config>") -> list[str]:
    """One line per key repeated in a mapping of the YAML (or JSON) ``text``, named by its dotted
    path: ``yaml.safe_load`` (and Snakemake's loader) silently keep the last value. Merge keys
    (``<<``) are YAML's own overriding and are not counted. The text is only composed (its
    nodes, nothing constructed); text that does not parse gives no line (loading reports it)."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return []
    out: list[str] = []
    visited: set[int] = set()  # an alias repeats a node (and may make a cycle): walked once

    def walk(node: Any, path: list[str | int]) -> None:
        if id(node) in visited:
            return
        visited.add(id(node))
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, int] = {}
            for key, value in node.value:
                name = key.value if isinstance(key, yaml.ScalarNode) else repr(key.value)
                if name == "<<":
                    continue
                line = key.start_mark.line + 1
                if name in seen:
                    out.append(
                        f"{_dotted([*path, name])}: duplicate key in {where} (lines {seen[name]} "
                        f"and {line}); YAML would silently keep the last value"
                    )
                else:
                    seen[name] = line
                walk(value, [*path, name])
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                walk(item, [*path, i])

    walk(root, [])
    return out


def read_config(path: str | Path) -> Any:
    """The YAML (or JSON) file ``path`` as Python data; a repeated key raises
    :class:`ConfigError` naming every one (:func:`duplicate_keys`)."""
    text = Path(path).read_text(encoding="utf-8")
    duplicates = duplicate_keys(text, str(path))
    if duplicates:
        raise ConfigError("invalid configuration:\n" + "\n".join(duplicates))
    return yaml.safe_load(text)


def load_config(path: str | Path, schema_path: str | Path = SCHEMA_PATH) -> dict:
    """Read the YAML file ``path`` and return it validated, with defaults filled in.

    A repeated key is refused (:func:`read_config`), and so is an empty file, as Snakemake
    refuses it as a ``--configfile``: ``{}`` is the configuration of every default.
    """
    raw = read_config(path)
    if raw is None:
        raise ConfigError(
            f"<config>: {path} is empty; Snakemake refuses an empty config file, write {{}} "
            "for every default"
        )
    if not isinstance(raw, Mapping):
        raise ConfigError(f"<config>: {path} holds a {type(raw).__name__}, not a mapping of keys")
    return validate_config(raw, schema_path)

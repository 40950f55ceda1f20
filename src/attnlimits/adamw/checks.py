"""The configuration checks of experiment ``adamw`` (its ``Experiment.check``): the rules that
span several keys, checked once the schema (``schema.yaml``) has passed."""

from __future__ import annotations

from collections.abc import Iterator

from attnlimits.config_checks import choose_among, depth_problems

#: The blocks a study may override (``adamw.studies.OVERRIDABLE``; not imported: parsing the
#: configuration imports no torch).
OVERRIDABLE = ("task", "optimizer", "limit")


def problems(config: dict) -> Iterator[str]:
    """Depths dividing the limit's records, records dividing its steps; the encoder mask only.

    The variants (standard, blockwise) and eps > 0 are checked by the schema.
    """
    adamw = config["adamw"]
    if adamw["mask"] != "encoder":
        yield (
            f"adamw.mask: {adamw['mask']!r} is not supported; the limit of experiment adamw "
            "(docs/mathematics.md) is a McKean-Vlasov ODE without causal mask; allowed: ['encoder']"
        )
    steps, records = adamw["limit"]["steps"], adamw["limit"]["records"]
    if steps % records:
        yield (
            f"adamw.limit.records: {records} does not divide adamw.limit.steps = {steps}; "
            f"choose records {choose_among(steps)} or change steps"
        )
    yield from depth_problems("adamw", adamw)
    for name, study in adamw["studies"].items():
        yield from study_problems(adamw, name, study)


def study_problems(adamw: dict, name: str, study: dict) -> Iterator[str]:
    """The overrides of study ``name`` (``adamw.studies``; the schema checks their keys): values
    that the schema of the blocks ``adamw.task``, ``.optimizer`` and ``.limit`` accepts, once
    merged into them; the study's limit records dividing its steps, and its depths dividing its
    records."""
    import jsonschema

    from attnlimits.config import full_schema

    where = f"adamw.studies.{name}"
    root = full_schema()
    blocks = root["properties"]["adamw"]["properties"]
    valid = True
    for part in OVERRIDABLE:  # (the schema allows their keys, not adamw.task.seed)
        validator = jsonschema.Draft202012Validator({**blocks[part], "$defs": root["$defs"]})
        for error in validator.iter_errors({**adamw[part], **study[part]}):
            valid = False
            path = "".join(f".{p}" for p in error.absolute_path)
            yield f"{where}.{part}{path}: {error.message}"
    if not valid:
        return
    steps, records = ({**adamw["limit"], **study["limit"]}[k] for k in ("steps", "records"))
    if steps % records:
        yield (
            f"{where}.limit.records: {records} does not divide the study's limit steps = "
            f"{steps}; choose records {choose_among(steps)} or change steps"
        )
        return
    for i, depth in enumerate(study["grid"]["L"]):
        if records % depth:
            yield (
                f"{where}.grid.L[{i}]: depth {depth} does not divide the study's limit records "
                f"= {records}; choose L {choose_among(records)} or change records"
            )

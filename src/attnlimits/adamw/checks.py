"""The configuration checks of experiment ``adamw`` (its ``Experiment.check``): the rules that
span several keys, checked once the schema (``schema.yaml``) has passed."""

from __future__ import annotations

from collections.abc import Iterator

from attnlimits.config_checks import choose_among, depth_problems


def problems(config: dict) -> Iterator[str]:
    """Depths dividing the limit's records, records dividing its steps; the encoder mask only.

    The variants (standard, blockwise) and eps > 0 are checked by the schema.
    """
    adamw = config["adamw"]
    if adamw["mask"] != "encoder":
        yield (
            f"adamw.mask: {adamw['mask']!r} is not supported; the limit of experiment adamw "
            "(MODELS.md) is a McKean-Vlasov ODE without causal mask; allowed: ['encoder']"
        )
    steps, records = adamw["limit"]["steps"], adamw["limit"]["records"]
    if steps % records:
        yield (
            f"adamw.limit.records: {records} does not divide adamw.limit.steps = {steps}; "
            f"choose records {choose_among(steps)} or change steps"
        )
    yield from depth_problems("adamw", adamw)

"""The configuration checks of experiment ``sde`` (its ``Experiment.check``): the rules that span
several keys, checked once the schema (``schema.yaml``) has passed."""

from __future__ import annotations

from collections.abc import Iterator


def problems(config: dict) -> Iterator[str]:
    """Depths dividing the reference's layers; the reference ladder finer than every depth."""
    depth = config["sde"]["depth"]
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

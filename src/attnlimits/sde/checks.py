"""The configuration checks of experiment ``sde`` (its ``Experiment.check``): the rules that span
several keys, checked once the schema (``schema.yaml``) has passed."""

from __future__ import annotations

from collections.abc import Iterator


def problems(config: dict) -> Iterator[str]:
    """Depths dividing the reference's layers; the reference ladder finer than every depth; the
    joint grids' depths dividing their reference's layers; the chaos runs' N within their
    reference; the energy fit's effective paths within the paths.

    Nothing is computed beyond integer arithmetic on the settings (no power 2^levels of an
    arbitrary levels: its bits are compared first)."""
    sde = config["sde"]
    depth = sde["depth"]
    for i, layers in enumerate(depth["L"]):
        if depth["fine"] % layers:
            yield (
                f"sde.depth.L[{i}]: depth {layers} does not divide sde.depth.fine = "
                f"{depth['fine']}; choose L among its divisors or change fine"
            )
    fine, levels = depth["fine"], depth["levels"]
    whole = levels < fine.bit_length() and fine % (1 << levels) == 0
    if not whole or fine >> levels < max(depth["L"]):
        yield (
            f"sde.depth.levels: {levels} halvings of sde.depth.fine = {fine} "
            f"must stay whole and at least max(sde.depth.L) = {max(depth['L'])}"
        )
    for kind in ("joint_width", "joint_tokens"):
        yield from _joint(sde[kind], kind)
    chaos = sde["chaos"]
    for i, n in enumerate(chaos["N"]):
        if n > chaos["N_ref"]:
            yield (
                f"sde.chaos.N[{i}]: {n} tokens exceed the reference's sde.chaos.N_ref = "
                f"{chaos['N_ref']}; the chaos run compares N tokens with the first of N_ref"
            )
    wanted, paths = sde["fits"]["min_effective_paths"], sde["sync"]["paths"]
    if wanted > paths:
        yield (
            f"sde.fits.min_effective_paths: {wanted:g} exceeds sde.sync.paths = {paths}; the "
            "effective number of paths (sum E)^2 / sum E^2 is at most the number of paths, so "
            "the energy decay rate would never be fitted"
        )


def _joint(block: dict, kind: str) -> Iterator[str]:
    """A joint grid's reference: an even number of layers (its own error is measured by halving
    it) that every depth L divides, finer than every L (the interpolated path needs the
    reference between layer times)."""
    fine = block["fine"]
    if fine % 2:
        yield (
            f"sde.{kind}.fine: {fine} is odd; the reference's own error is measured at fine/2, "
            "so fine must be even"
        )
    for i, layers in enumerate(block["L"]):
        if fine % layers or layers >= fine:
            yield (
                f"sde.{kind}.L[{i}]: depth {layers} must divide sde.{kind}.fine = {fine} and be "
                "smaller (the interpolated path is compared with the reference between layers)"
            )

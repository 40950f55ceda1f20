"""The configuration checks of experiment ``heads`` (its ``Experiment.check``): the rules that span
several keys, checked once the schema (``schema.yaml``) has passed."""

from __future__ import annotations

from collections.abc import Iterator

from attnlimits.config_checks import depth_problems

GRID_AXES = ("N", "d", "beta", "L", "H")
#: Fewest depths and numbers of heads of a depth × heads grid (``p1.rates.MIN_DEPTHS``,
#: ``MIN_HEADS``; not imported: checking a configuration imports no xarray).
MIN_DEPTHS, MIN_HEADS = 3, 2


def adversarial_problems(heads: dict) -> Iterator[str]:
    """The search's grid has enough depths and heads for the exponents."""
    block, where = heads["adversarial"], "heads.adversarial"
    if not block["enabled"]:
        return
    for axis, least in (("L", MIN_DEPTHS), ("H", MIN_HEADS)):
        if len(set(block["grid"][axis])) < least:
            yield (
                f"{where}.grid.{axis}: {block['grid'][axis]} has fewer than {least} values; the "
                f"exponent in {axis} needs at least {least}"
            )


def problems(config: dict) -> Iterator[str]:
    """Depths dividing the solver's records; the search's grid (:func:`adversarial_problems`);
    the trajectory cell ``plots.trajectories`` simulated by heads."""
    heads, cell = config["heads"], config["plots"]["trajectories"]
    yield from depth_problems("heads", heads)
    yield from adversarial_problems(heads)

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

"""The configuration checks of experiment ``heads`` (its ``Experiment.check``): the rules that span
several keys, checked once the schema (``schema.yaml``) has passed."""

from __future__ import annotations

from collections.abc import Iterator

from attnlimits.config_checks import depth_problems

GRID_AXES = ("N", "d", "beta", "L", "H")


def problems(config: dict) -> Iterator[str]:
    """Depths dividing the solver's records; the trajectory cell ``plots.trajectories`` simulated
    by heads."""
    heads, cell = config["heads"], config["plots"]["trajectories"]
    yield from depth_problems("heads", heads)

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

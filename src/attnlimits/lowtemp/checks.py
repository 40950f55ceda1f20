"""The configuration checks of experiment ``lowtemp`` (its ``Experiment.check``): the rules that
span several keys, checked once the schema (``schema.yaml``) has passed."""

from __future__ import annotations

import math
from collections.abc import Iterator


def problems(config: dict) -> Iterator[str]:
    """The measure's dimension, the heads (V's size, QᵀK positive definite), the terminal heads,
    the mean-field regime N >= factor * beta^(k/2) (docs/mathematics.md, "The mean-field regime"),
    times on the record grid."""
    from attnlimits.lowtemp.grid import particles

    lowtemp = config["lowtemp"]
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
    # counted by formula, never by building the measure (lowtemp.grid.particles)
    n = particles(measure["kind"], measure["size"], d)
    if n == 0:
        yield (
            f"lowtemp.measure.size: the ball's lattice of {measure['size']} points per axis has "
            f"no point inside the unit ball of dimension lowtemp.measure.d = {d}; use an odd size "
            "or one whose square is at least d"
        )
        return
    for i, size in enumerate(lowtemp["terminal"]["sizes"]):
        if particles(measure["kind"], size, d) == 0:
            yield f"lowtemp.terminal.sizes[{i}]: no lattice point of size {size} inside the ball"
    regime = lowtemp["regime"]
    if not regime["allow_outside"]:
        for i, beta in enumerate(lowtemp["betas"]):
            needed = _regime_particles(float(beta), d, float(regime["factor"]))
            if n < needed:
                yield (
                    f"lowtemp.betas[{i}]: outside the mean-field regime: beta={beta:g} needs "
                    f"N >= {regime['factor']:g} * beta^(k/2) = {_count(needed)} particles "
                    f"(k={d}), the measure has N={_count(n)}; raise lowtemp.measure.size, drop "
                    "this beta, or set lowtemp.regime.allow_outside: true to run it anyway"
                )
    horizon, records = lowtemp["horizon"], lowtemp["records"]
    for i, t in enumerate(lowtemp["fits"]["times"]):
        if not _on_grid(t, horizon, records):
            yield (
                f"lowtemp.fits.times[{i}]: {t} is not a record time, a multiple of "
                f"lowtemp.horizon / lowtemp.records = {horizon / records:g} up to {horizon:g}"
            )
    fits = lowtemp["fits"]
    for i, name in enumerate(fits["metastable_heads"]):
        if name not in heads:
            yield (
                f"lowtemp.fits.metastable_heads[{i}]: {name!r} is not in lowtemp.heads "
                f"{sorted(heads)}"
            )
    yield from _metastable_problems(lowtemp)
    yield from _convergence_problems(lowtemp)
    yield from _window_problems("lowtemp.fits.phase_window", fits["phase_window"], horizon)
    yield from _window_problems(
        "lowtemp.fits.terminal_window", fits["terminal_window"], lowtemp["terminal"]["horizon"]
    )


def _count(value: float) -> str:
    """A count as an integer, or in scientific notation when too large to read as one."""
    return f"{value:.0f}" if value < 1e15 else f"{value:.3g}"


def _regime_particles(beta: float, k: int, factor: float) -> float:
    """factor · β^(k/2), the particles the mean-field regime needs (``measures.regime_problems``),
    +inf rather than an OverflowError."""
    try:
        return factor * beta ** (k / 2)
    except OverflowError:
        return math.inf


def _on_grid(value: float, horizon: float, records: int) -> bool:
    step = horizon / records
    return 0 <= value <= horizon and abs(value / step - round(value / step)) < 1e-9


def _window_problems(where: str, window: list[float], horizon: float) -> Iterator[str]:
    if not window[0] < window[1] <= horizon:
        yield f"{where}: {window} must satisfy t_a < t_b <= the horizon {horizon:g}"


def _random_head_problems(heads: dict, d: int) -> Iterator[str]:
    """QᵀK positive definite for the random heads: three d x d matrices each (d <= 64,
    lowtemp.measure.d's maximum), drawn in numpy."""
    from attnlimits.lowtemp.heads import head_matrices

    for name, head in heads.items():
        if head["kind"] == "random":
            try:
                head_matrices(head, d)
            except ValueError as err:
                yield f"lowtemp.heads.{name}: {err}"


def _convergence_problems(lowtemp: dict) -> Iterator[str]:
    """The N sweep (lowtemp.convergence): its heads and variants those of the main runs (whose
    numbers it reuses), particle counts that differ (one N per size), families that exist in the
    measure's dimension."""
    from attnlimits.lowtemp.families import MAX_REJECTION_D

    conv, measure = lowtemp["convergence"], lowtemp["measure"]
    if not conv["heads"]:
        return
    for i, name in enumerate(conv["heads"]):
        if name not in lowtemp["heads"]:
            yield (
                f"lowtemp.convergence.heads[{i}]: {name!r} is not in lowtemp.heads "
                f"{sorted(lowtemp['heads'])}"
            )
    for i, variant in enumerate(conv["variants"]):
        if variant not in lowtemp["variants"]:
            yield (
                f"lowtemp.convergence.variants[{i}]: {variant!r} is not in lowtemp.variants "
                f"{lowtemp['variants']}"
            )
    rejection = [f for f in conv["families"] if f != "grid"]
    if rejection and measure["d"] > MAX_REJECTION_D:
        yield (
            f"lowtemp.convergence.families: {', '.join(rejection)} need lowtemp.measure.d <= "
            f"{MAX_REJECTION_D} (rejection from the cube), got {measure['d']}"
        )
    yield from _size_problems(measure, conv["sizes"], "lowtemp.convergence.sizes")


def _metastable_problems(lowtemp: dict) -> Iterator[str]:
    """The metastable window (lowtemp.metastable): two thresholds that differ, one N per size."""

    fits, meta, measure = lowtemp["fits"], lowtemp["metastable"], lowtemp["measure"]
    if not fits["metastable_heads"]:
        return
    if fits["metastable_check_fraction"] == fits["metastable_fraction"]:
        yield (
            "lowtemp.fits.metastable_check_fraction: equal to lowtemp.fits.metastable_fraction "
            f"({fits['metastable_fraction']:g}); the second threshold must differ"
        )
    yield from _size_problems(measure, meta["sizes"], "lowtemp.metastable.sizes")


def _size_problems(measure: dict, sizes: list[int], where: str) -> Iterator[str]:
    """Sizes of ``measure`` at the config key ``where``: each gives particles, and its own N."""
    from attnlimits.lowtemp.grid import particles

    counts = [particles(measure["kind"], s, measure["d"]) for s in sizes]
    for i, (size, n) in enumerate(zip(sizes, counts, strict=True)):
        if n == 0:
            yield f"{where}[{i}]: no lattice point of size {size} inside the ball"
        elif counts.index(n) != i:
            yield (
                f"{where}[{i}]: size {size} gives the same N = {n:.0f} as size "
                f"{sizes[counts.index(n)]}; every size must give its own N"
            )

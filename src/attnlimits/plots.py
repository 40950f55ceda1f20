"""Plotting helpers shared by every experiment: style, saving, rates with bootstrap bands, and
reading back the tables the figures are drawn from.

Figures use matplotlib's Agg backend and seaborn's theme; ``options`` is the config block
``plots`` (``format``, ``dpi``, ``context``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter  # noqa: E402


def set_style(options: Mapping[str, Any]) -> None:
    """Seaborn theme with the configured context (paper, notebook, talk, poster)."""
    sns.set_theme(context=options.get("context", "paper"), style="whitegrid")


def figure_path(outdir: str | Path, name: str, options: Mapping[str, Any]) -> Path:
    """``outdir/name.<format>``."""
    return Path(outdir) / f"{name}.{options.get('format', 'png')}"


def save_figure(fig: Figure, path: str | Path, options: Mapping[str, Any]) -> Path:
    """Save ``fig`` at the configured dpi (format from the suffix of ``path``), close it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=options.get("dpi", 130), bbox_inches="tight")
    plt.close(fig)
    return path


def panels(rows: int, cols: int, width: float = 4.2, height: float = 3.4) -> tuple[Figure, Any]:
    """A figure with a (rows, cols) array of axes, always 2-D."""
    fig, axes = plt.subplots(
        rows, cols, figsize=(width * cols, height * rows), squeeze=False, constrained_layout=True
    )
    return fig, axes


def palette(values: Sequence[Any], name: str = "viridis") -> dict[Any, Any]:
    """One colour per value, in order."""
    colours = sns.color_palette(name, max(len(values), 1))
    return dict(zip(values, colours, strict=False))


def select(frame: pd.DataFrame, **keys: Any) -> pd.DataFrame:
    """Rows of ``frame`` whose columns equal ``keys`` (a missing value matches a missing one)."""
    mask = np.ones(len(frame), dtype=bool)
    for column, value in keys.items():
        if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
            mask &= frame[column].isna().to_numpy()
        else:
            mask &= (frame[column] == value).fillna(False).to_numpy(dtype=bool)
    return frame[mask]


def draw_points(
    ax: Axes,
    x: np.ndarray,
    y: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    color: Any,
    label: str | None = None,
    hollow: np.ndarray | None = None,
    marker: str = "o",
) -> None:
    """Markers at (x, y) with error bars [lo, hi]; ``hollow`` marks points left out of the fits."""
    x, y, lo, hi = (np.asarray(a, dtype=np.float64) for a in (x, y, lo, hi))
    hollow = np.zeros(len(x), bool) if hollow is None else np.asarray(hollow, dtype=bool)
    yerr = np.vstack([np.clip(y - lo, 0, None), np.clip(hi - y, 0, None)])
    yerr = np.where(np.isfinite(yerr), yerr, 0.0)
    ax.errorbar(x, y, yerr=yerr, fmt="none", ecolor=color, elinewidth=1, capsize=2, alpha=0.8)
    ax.plot(x[~hollow], y[~hollow], marker, color=color, ms=5, ls="none", label=label)
    if hollow.any():
        ax.plot(x[hollow], y[hollow], marker, mfc="white", mec=color, ms=5, ls="none")


def draw_fit(
    ax: Axes,
    x: np.ndarray,
    y: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    color: Any,
    label: str | None = None,
    style: str = "-",
) -> None:
    """A fitted line with its bootstrap band."""
    ax.plot(x, y, style, color=color, lw=1.3, label=label)
    ax.fill_between(x, lo, hi, color=color, alpha=0.18, lw=0)


def reference_slopes(
    ax: Axes,
    slopes: Iterable[float],
    x: Sequence[float],
    anchor: float,
    styles: Sequence[str] = (":", "--", "-."),
    color: str = "0.35",
) -> None:
    """Guide lines y = anchor (x / x₀)^slope over the range of ``x``, labelled with the slope."""
    xs = np.array([np.min(x), np.max(x)], dtype=np.float64)
    for slope, style in zip(slopes, styles, strict=False):
        ys = anchor * (xs / xs[0]) ** slope
        ax.plot(xs, ys, style, color=color, lw=1, label=f"slope {format_exponent(slope)}")


def format_exponent(value: float) -> str:
    """−1, −1/2, −1/3, 0 as fractions; other values with two decimals."""
    for den in (1, 2, 3, 4):
        if np.isclose(value * den, round(value * den)):
            num = int(round(value * den))
            text = str(abs(num)) if den == 1 else f"{abs(num)}/{den}"
            return ("−" if num < 0 else "") + text
    return f"{value:.2f}".replace("-", "−")


def log_axes(
    ax: Axes,
    xlabel: str,
    ylabel: str,
    title: str | None = None,
    logy: bool = True,
    ticks: Iterable[float] | None = None,
) -> None:
    """Log-log (or log-linear) axes with labels, an optional title, x ticks at ``ticks``."""
    ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    if ticks is not None:
        values = sorted({float(t) for t in ticks if np.isfinite(t)})
        ax.xaxis.set_major_locator(FixedLocator(values))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)


def legend_outside(fig: Figure, axes: Any, title: str | None = None) -> None:
    """One legend for the figure, right of the panels, from the handles of every axis."""
    handles, labels = {}, []
    for ax in np.ravel(axes):
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            if label not in handles and not label.startswith("_"):
                handles[label] = handle
                labels.append(label)
    if labels:
        fig.legend(
            [handles[label] for label in labels], labels, loc="outside right upper", title=title
        )


def empty_figure(message: str) -> Figure:
    """A figure saying why there is nothing to draw (so that every declared output exists)."""
    fig, ax = plt.subplots(figsize=(5, 2))
    ax.text(0.5, 0.5, message, ha="center", va="center")
    ax.set_axis_off()
    return fig


def plain_value(v: Any) -> Any:
    """Plain scalar for keys read back from tables (ints stay ints)."""
    if isinstance(v, float | np.floating) and float(v).is_integer():
        return int(v)
    return v.item() if hasattr(v, "item") else v


def combos(frame: pd.DataFrame, keys: Sequence[str], sort: bool = True) -> list[dict[str, Any]]:
    """The combinations of ``keys`` in ``frame``, sorted or in order of appearance."""
    if frame.empty:
        return []
    unique = frame[list(keys)].drop_duplicates()
    if sort:
        unique = unique.sort_values(list(keys))
    return [{k: plain_value(v) for k, v in row.items()} for row in unique.to_dict("records")]


def _read_csv(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path)
    except pd.errors.EmptyDataError:  # an empty table (no rows, no columns) is written as one line
        return pd.DataFrame()


def read_tables(
    tabledir: str | Path, names: Iterable[str] | None = None
) -> dict[str, pd.DataFrame]:
    """The CSV tables written by ``analysis.tables.write_tables`` under ``tabledir``, by name, as
    DataFrames (empty tables stay empty): those of ``names``, or every ``<name>.csv`` there."""
    tabledir = Path(tabledir)
    if names is None:
        names = sorted(path.stem for path in tabledir.glob("*.csv"))
    return {name: _read_csv(tabledir / f"{name}.csv") for name in names}

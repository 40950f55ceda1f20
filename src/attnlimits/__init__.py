"""attnlimits: numerical checks of scaling-limit theorems for deep transformers."""

from importlib import metadata
from typing import Any

try:
    __version__ = metadata.version("attnlimits")
except metadata.PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.0.0+unknown"

__all__ = ["experiments", "open_results", "open_statistics", "__version__"]

#: The downstream API (:mod:`attnlimits.results`), exported lazily.
_RESULTS_API = ("experiments", "open_results", "open_statistics")


def __getattr__(name: str) -> Any:
    """``experiments``, ``open_results`` and ``open_statistics``, imported on first use:
    importing the package (as the workflow's rule files do, for the grids) must not import
    xarray and torch."""
    if name in _RESULTS_API:
        from attnlimits import results

        return getattr(results, name)
    raise AttributeError(f"module 'attnlimits' has no attribute {name!r}")

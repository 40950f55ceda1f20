"""attnlimits: numerical checks of scaling-limit theorems for deep transformers."""

from importlib import metadata

from attnlimits.results import open_results, open_statistics

try:
    __version__ = metadata.version("attnlimits")
except metadata.PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.0.0+unknown"

__all__ = ["open_results", "open_statistics", "__version__"]

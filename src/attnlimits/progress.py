"""Periodic progress lines in a job's log."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable


def reporter(logger: logging.Logger, what: str, every: float = 0.1) -> Callable[[int, int], None]:
    """A callback ``(done, total)`` that logs about every ``every`` fraction of the work."""
    start = time.monotonic()
    state = {"next": every}

    def report(done: int, total: int) -> None:
        frac = done / total
        if frac + 1e-12 >= state["next"] or done == total:
            state["next"] = frac + every
            logger.info(
                "%s: %d/%d (%.0f%%) in %.1fs",
                what,
                done,
                total,
                100 * frac,
                time.monotonic() - start,
            )

    return report


def job_logger(path: str | None, name: str) -> logging.Logger:
    """A logger writing to the job's log file (and to stderr when no file is given)."""
    logger = logging.getLogger(name)
    logger.setLevel(logging.INFO)
    logger.handlers.clear()
    handler = logging.FileHandler(path) if path else logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(message)s"))
    logger.addHandler(handler)
    return logger

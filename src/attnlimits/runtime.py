"""Per-job runtime set-up: torch threads and device."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

import torch


def setup(runtime: Mapping[str, Any]) -> torch.device:
    """Fix torch's thread count (for bit-identical results) and pick the device.

    ``device``: ``cpu``, ``cuda`` or ``auto`` (cuda when available). Everything runs in float64.
    """
    torch.set_num_threads(int(runtime.get("torch_threads", 1)))
    torch.use_deterministic_algorithms(True, warn_only=True)
    choice = runtime.get("device", "cpu")
    if choice == "auto":
        choice = "cuda" if torch.cuda.is_available() else "cpu"
    if choice == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("runtime.device is 'cuda' but torch sees no CUDA device")
    return torch.device(choice)


@contextlib.contextmanager
def dask_scheduler(runtime: Mapping[str, Any]) -> Iterator[None]:
    """Run Dask computations inside the block on the scheduler of ``runtime.dask``.

    ``synchronous`` (default) computes in the calling thread; ``threads`` uses a pool of
    ``torch_threads`` threads; an address (``tcp://host:port``) connects a
    ``distributed.Client`` to an existing cluster for the duration of the block. Chunked
    reductions are combined in the same tree whatever the scheduler, so the results do not
    depend on the choice.
    """
    choice = runtime.get("dask", "synchronous")
    if "://" in choice:
        from distributed import Client

        with Client(choice, set_as_default=True):
            yield
        return
    import dask

    options = {"scheduler": choice}
    if choice == "threads":
        options["num_workers"] = int(runtime.get("torch_threads", 1))
    with dask.config.set(**options):
        yield

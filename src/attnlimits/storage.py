"""Zarr stores that are either complete or absent.

A store is written under a temporary name beside its final path and renamed when complete,
so an interrupted job never leaves a store that a later run (or Snakemake) would take as done.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import xarray as xr

ZARR_FORMAT = 2  # consolidated metadata is part of the v2 format; readable by every client


def temporary_path(path: str | os.PathLike) -> Path:
    path = Path(path)
    return path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:8]}")


def commit_path(tmp: Path, path: str | os.PathLike) -> Path:
    """Move a finished temporary store onto ``path`` (replacing an older one)."""
    path = Path(path)
    if path.exists():
        shutil.rmtree(path)
    os.rename(tmp, path)
    return path


def write_atomic(path: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Run ``write(tmp)`` on a temporary path and rename it to ``path`` when it returns.

    If ``write`` raises (or the process dies), ``path`` is untouched and the partial store is
    left only under a hidden temporary name, which nothing reads.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_path(path)
    try:
        write(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return commit_path(tmp, path)


def write_dataset(ds: xr.Dataset, path: str | os.PathLike) -> Path:
    """Write ``ds`` as a consolidated Zarr store at ``path``, atomically."""
    return write_atomic(
        path, lambda tmp: ds.to_zarr(tmp, mode="w", consolidated=True, zarr_format=ZARR_FORMAT)
    )


def open_dataset(path: str | os.PathLike, chunks: dict | str | None = "auto") -> xr.Dataset:
    """Open a store written by :func:`write_dataset` lazily (Dask-backed)."""
    return xr.open_zarr(path, consolidated=True, chunks=chunks)


def variable(
    data: Any, dims: tuple[str, ...], long_name: str, units: str = "1", **attrs: Any
) -> xr.Variable:
    """A store variable with its ``long_name`` and ``units`` (torch tensors moved to numpy)."""
    if isinstance(data, torch.Tensor):
        data = data.detach().cpu().numpy()
    return xr.Variable(
        dims, np.asarray(data), attrs={"long_name": long_name, "units": units, **attrs}
    )

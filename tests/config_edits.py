"""Edits of a configuration dict at a dotted path, for the configuration tests."""

from __future__ import annotations

import copy
from collections.abc import Callable

import pytest

from attnlimits.config import ConfigError, validate_config


def _parent(config: dict, path: str) -> tuple[dict | list, str | int]:
    """The container holding the last part of ``path`` (a numeric part indexes a list)."""
    *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]
    node = config
    for key in parents:
        node = node[key]
    return node, last


def set_in(config: dict, path: str, value: object) -> None:
    """Set the dotted ``path`` of ``config`` to ``value`` in place."""
    node, last = _parent(config, path)
    node[last] = value


def put(path: str, value: object) -> Callable[[dict], None]:
    """A modification setting the dotted ``path`` (last part may be an int index) to ``value``."""
    return lambda config: set_in(config, path, value)


def drop(path: str) -> Callable[[dict], None]:
    """A modification deleting the dotted ``path``."""

    def modify(config: dict) -> None:
        node, last = _parent(config, path)
        del node[last]

    return modify


def assert_invalid(config: dict, modify: Callable[[dict], None], expected: list[str]) -> None:
    """``modify`` a copy of ``config``: validation must raise a ConfigError whose message holds
    every text of ``expected``."""
    config = copy.deepcopy(config)
    modify(config)
    with pytest.raises(ConfigError) as info:
        validate_config(config)
    message = str(info.value)
    for text in expected:
        assert text in message

"""`python -m attnlimits keys`: the listed keys and defaults are those validation applies."""

from functools import reduce

import pytest

from attnlimits.config import full_schema, validate_config
from attnlimits.config_keys import ANY_NAME, keys, main


@pytest.fixture(scope="module")
def listed():
    return {key.path: key for key in keys(full_schema())}


def test_every_key_has_a_description_and_a_default_of_its_own_or_of_its_keys(listed):
    assert len(listed) > 200
    assert [path for path, key in listed.items() if not key.description] == []
    blocks = {path for path, key in listed.items() if not key.has_default}
    assert "runtime" in blocks and "heads.fits" in blocks
    assert [path for path in blocks if not any(p.startswith(f"{path}.") for p in listed)] == []


def test_listed_defaults_are_what_an_empty_configuration_gets(listed):
    """`{}` validated fills every key with its default: the value at each listed path (outside
    free names) is the listed default."""
    filled = validate_config({})
    checked = 0
    for path, key in listed.items():
        if ANY_NAME in path or not key.has_default:
            continue
        value = reduce(lambda node, part: node[part], path.split("."), filled)
        assert value == key.default, path
        checked += 1
    assert checked > 200


def test_named_grids_list_the_keys_each_grid_takes(listed):
    """A free-named block lists its own default and the keys of every named value, whose
    defaults fill a grid that leaves them out."""
    assert "heads.grids" in listed and f"heads.grids.{ANY_NAME}.L" in listed
    grid = {"N": [32], "d": [3], "beta": [1.0], "H": [4]}  # holds the trajectories' cell
    filled = validate_config({"experiments": ["heads"], "heads": {"grids": {"g": grid}}})
    assert filled["heads"]["grids"]["g"]["L"] == listed[f"heads.grids.{ANY_NAME}.L"].default


def test_the_command_filters_by_prefix_and_refuses_an_unknown_one(capsys):
    assert main(["heads.fits"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("heads.fits\n")
    assert "heads.fits.bootstrap = 400" in out and "sde." not in out
    assert main(["heads.fitz"]) == 1
    assert "heads.fitz" in capsys.readouterr().err

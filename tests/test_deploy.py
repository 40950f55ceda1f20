"""Deployment: the package as a wheel in a fresh environment, the workflow used as a Snakemake
module from an empty folder (what `snakedeploy deploy-workflow` writes), and what pins the
software: the jobs' conda environment and the lock file (docs/deployment.md)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from workflow_helpers import REPO, SNAKEMAKE, assert_same_store, stores

from attnlimits.provenance import NO_GIT, git_state
from attnlimits.storage import open_dataset

PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
#: What a wheel is built from (a copy, so that the build leaves nothing in the checkout).
BUILT_FROM = ("pyproject.toml", "README.md", "src")


def package_data() -> list[str]:
    """The data files of the package in the source tree, relative to src/ (the schemas)."""
    src = REPO / "src"
    return sorted(
        str(p.relative_to(src)) for p in (src / "attnlimits").rglob("*.yaml") if p.is_file()
    )


def test_the_jobs_environment_pins_this_version():
    """workflow/envs/attnlimits.yaml installs the package at pyproject.toml's version, with a
    Python the package accepts: the jobs run the code the Snakemake process hashed."""
    env = yaml.safe_load((REPO / "workflow" / "envs" / "attnlimits.yaml").read_text())
    deps = env["dependencies"]
    pip = next(d["pip"] for d in deps if isinstance(d, dict))
    pinned = [Requirement(r) for r in pip if Requirement(r).name == PROJECT["name"]]
    assert [str(r.specifier) for r in pinned] == [f"=={PROJECT['version']}"], pip
    python = next(d for d in deps if isinstance(d, str) and d.startswith("python"))
    assert python.split("=")[-1].strip() in SpecifierSet(PROJECT["requires-python"])


def locked() -> dict[str, str]:
    """requirements.lock as name → version (comments and pip options aside)."""
    lines = (REPO / "requirements.lock").read_text().splitlines()
    pins = [Requirement(line) for line in lines if line.strip() and line[0] not in "#-"]
    assert all(len(r.specifier) == 1 and str(r.specifier).startswith("==") for r in pins)
    return {canonicalize_name(r.name): str(r.specifier).removeprefix("==") for r in pins}


def test_the_lock_file_meets_every_floor():
    """Every dependency of the package and of its extras is in requirements.lock, at a version
    that pyproject.toml allows (a raised floor must come with a new lock)."""
    versions = locked()
    wanted = [Requirement(r) for r in PROJECT["dependencies"]]
    wanted += [Requirement(r) for extra in PROJECT["optional-dependencies"].values() for r in extra]
    for req in wanted:
        if req.name == PROJECT["name"]:  # an extra naming another extra
            continue
        name = canonicalize_name(req.name)
        assert name in versions, f"{req.name} is not in requirements.lock"
        assert req.specifier.contains(versions[name], prereleases=True), (
            f"requirements.lock has {req.name}=={versions[name]}, pyproject.toml wants {req}"
        )
    assert PROJECT["name"] not in versions


def git(where: Path, *args: str) -> str:
    out = subprocess.run(["git", *args], cwd=where, capture_output=True, text=True, check=True)
    return out.stdout.strip()


def test_provenance_reads_git_in_the_run_folder(tmp_path, monkeypatch):
    """The commit is that of the folder the run is in (the working directory), not of the
    package's location (this checkout); outside any repository the record says so."""
    outside = tmp_path / "outside"
    outside.mkdir()
    monkeypatch.chdir(outside)
    assert git_state() == {"git_commit": NO_GIT, "git_dirty": False}
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    (repo / "config.yaml").write_text("{}\n")
    git(repo, "add", "config.yaml")
    identity = ["-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"]
    git(repo, *identity, "commit", "-q", "-m", "config")
    monkeypatch.chdir(repo)
    assert git_state() == {"git_commit": git(repo, "rev-parse", "HEAD"), "git_dirty": False}
    (repo / "config.yaml").write_text("{results: elsewhere}\n")
    assert git_state()["git_dirty"] is True
    assert git_state(outside)["git_commit"] == NO_GIT


def build_wheel(dest: Path) -> Path:
    """The package's wheel, built from a copy of its sources without its dependencies, by this
    environment's setuptools (the test extra): nothing is downloaded."""
    src = dest / "source"
    src.mkdir(parents=True)
    for name in BUILT_FROM:
        if (REPO / name).is_dir():
            skip = shutil.ignore_patterns("__pycache__", "*.egg-info")
            shutil.copytree(REPO / name, src / name, ignore=skip)
        else:
            shutil.copy2(REPO / name, src / name)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    subprocess.run(
        [*pip, "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", dest, src],
        check=True,
        capture_output=True,
    )
    (wheel,) = dest.glob("attnlimits-*.whl")
    return wheel


def fresh_environment(where: Path, wheel: Path) -> Path:
    """A new virtual environment holding the wheel; its dependencies are this environment's
    (appended to its path by a .pth file, so that the test downloads nothing). Such a path is
    not scanned for .pth files, so this checkout's editable install (one in this environment's
    site-packages) does not reach it. Returns its python."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", where], check=True)
    python = where / "bin" / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", python, "install", "--quiet"]
        + ["--no-deps", "--no-index", wheel],
        check=True,
        capture_output=True,
    )
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    (Path(site) / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return python


def deploy(dest: Path, configfile: Path) -> Path:
    """What `snakedeploy deploy-workflow` writes: config/ (here the test config as the
    default) and a workflow/Snakefile that uses every rule of this workflow as a module."""
    (dest / "config").mkdir(parents=True)
    shutil.copy2(configfile, dest / "config" / "config.yaml")
    (dest / "workflow").mkdir()
    (dest / "workflow" / "Snakefile").write_text(
        'configfile: "config/config.yaml"\n\n\n'
        "module attnlimits:\n"
        "    snakefile:\n"
        f'        "{REPO / "workflow" / "Snakefile"}"\n'
        "    config:\n"
        "        config\n\n\n"
        "use rule * from attnlimits\n"
    )
    return dest


@pytest.mark.slow
def test_a_wheel_deployed_as_a_module_gives_the_stores_of_the_checkout(tiny_run, tmp_path):
    """The wheel ships every schema; installed in a fresh environment, it runs config/test.yaml
    through the workflow used as a module from an empty folder outside any git repository, and
    writes the stores of the same config run in a copy of the checkout (tiny_run): the same
    numbers, code versions and parameters, with provenance naming the package's version."""
    wheel = build_wheel(tmp_path / "dist")
    assert set(package_data()) <= set(zipfile.ZipFile(wheel).namelist())
    python = fresh_environment(tmp_path / "venv", wheel)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    where = subprocess.run(
        [python, "-c", "import attnlimits, snakemake; print(attnlimits.__file__)"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    assert Path(where).is_relative_to(tmp_path / "venv"), where

    folder = deploy(tmp_path / "project", REPO / "config" / "test.yaml")
    proc = subprocess.run(
        [str(python), *SNAKEMAKE[1:], "--cores", "2"],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert (folder / "results" / "verdicts.csv").is_file()
    assert stores(folder) == stores(tiny_run) != []
    for rel in stores(folder):
        assert_same_store(folder / rel, tiny_run / rel)
    attrs = open_dataset(folder / "results" / "heads" / "results.zarr").attrs
    assert attrs["git_commit"] == NO_GIT and attrs["git_dirty"] is False
    assert attrs["attnlimits_version"] == PROJECT["version"]

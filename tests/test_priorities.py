"""Job priorities (``Job.priority``, Snakemake's rule priority): each job kind's priority is the
length of the longest chain of job kinds that wait for it, one after the other, so that the long
chains start first. Computed here from the inputs the default configuration gives each job."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest

from attnlimits.config import load_config
from attnlimits.registry import Experiment, registered

CONFIG = load_config(Path(__file__).resolve().parents[1] / "config" / "config.yaml")


def waits_for(experiment: Experiment) -> dict[str, set[str]]:
    """Job name → the job kinds of the experiment whose outputs it takes as inputs."""
    writer = {}
    for job in experiment.jobs:
        if job.keyed:
            writer.update(dict.fromkeys(experiment.keyed_outputs(CONFIG, job.name), job.name))
        else:
            writer.update(dict.fromkeys(experiment.outputs(job).values(), job.name))
    found: dict[str, set[str]] = {}
    for job in experiment.jobs:
        keys = experiment.keys(CONFIG, job.name) if job.keyed else [None]
        paths = {
            path
            for key in keys
            for need in experiment.inputs_of(CONFIG, job.name, key).values()
            for path in ([need] if isinstance(need, str) else need)
        }
        found[job.name] = {writer[p] for p in paths if p in writer}
    return found


@pytest.mark.parametrize("name", list(registered()))
def test_priority_is_the_longest_chain_waiting(name):
    experiment = registered()[name]
    needs = waits_for(experiment)

    @cache
    def chain(job: str) -> int:
        waiting = [other for other, inputs in needs.items() if job in inputs]
        return max((1 + chain(other) for other in waiting), default=0)

    assert any(needs.values())  # the experiment's jobs do wait for one another
    assert {job.name: job.priority for job in experiment.jobs} == {
        job.name: chain(job.name) for job in experiment.jobs
    }

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """config/test.yaml run end to end, once per session, in a copy of the repository, every job
    tracing the code it runs (workflow_helpers.snakemake). Shared by the workflow tests
    (test_workflow.py), the report tests (test_report.py: they add report.html) and the
    deployment test (test_deploy.py): they read it and dry-run it, none changes a store."""
    from workflow_helpers import copy_repo, snakemake

    repo = copy_repo(tmp_path_factory.mktemp("run") / "repo")
    snakemake(repo, "--cores", "2", trace=True)
    return repo

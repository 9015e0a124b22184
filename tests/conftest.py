"""Shared test setup: one intra-op thread (2 shared cores: more threads only contend)."""

import os
import random

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def mnist_cache_dir():
    """The repository's ignored cache folder: the MNIST classifier is trained once per checkout."""
    from trainables.config import REPO_ROOT

    path = REPO_ROOT / ".cache" / "metrics"
    path.mkdir(parents=True, exist_ok=True)
    return path


# Property-based fuzzing (tests/fuzz): one seed per session, printed in the header so a failure
# reproduces with FUZZ_SEED=<seed> (and FUZZ_EXAMPLES=<n> to run more examples).
os.environ.setdefault("FUZZ_SEED", str(random.randrange(2**31)))


def pytest_report_header(config):
    return f"fuzz: FUZZ_SEED={os.environ['FUZZ_SEED']} FUZZ_EXAMPLES={os.environ.get('FUZZ_EXAMPLES', 'default')}"

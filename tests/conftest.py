"""Shared test setup: one intra-op thread (2 shared cores: more threads only contend)."""

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

"""A short MNIST run on the shared test split: domain-FID curve improves, class entropy rises."""

import json

import pytest

from trainables.config import REPO_ROOT
from trainables.train import train_to_dir

SHARED = REPO_ROOT.parent / "shared" / "data"


@pytest.mark.slow
@pytest.mark.skipif(not (SHARED / "MNIST" / "raw" / "t10k-images-idx3-ubyte").exists(),
                    reason="the shared MNIST test split is not beside the repository")
def test_short_mnist_run_improves_domain_fid_and_class_entropy(tmp_path, mnist_cache_dir):
    config = {
        "gan": "tripletgan",
        "data": {"name": "mnist", "root": str(SHARED), "batch_size": 64},
        "steps": 600,
        "seed": 1,
        "eval": {"every": 300, "num_samples": 1000, "cache_dir": str(mnist_cache_dir), "grid_size": 16},
        "device": "cpu",
    }
    result = train_to_dir(config, tmp_path / "run", progress=False)
    fids = [m["eval/fid"] for m in result.curve]
    entropies = [m["eval/class_entropy"] for m in result.curve]
    assert [m["step"] for m in result.curve] == [0, 300, 600]
    assert fids[-1] < fids[0], fids
    assert entropies[-1] > entropies[0], entropies
    # improved precision / recall (k = 3) on the classifier's features, on by default for MNIST:
    # the untrained generator's digits lie outside the real manifold, the trained ones less so
    precision = [m["eval/precision"] for m in result.curve]
    assert all(0.0 <= m["eval/precision"] <= 1.0 and 0.0 <= m["eval/recall"] <= 1.0 for m in result.curve)
    assert precision[-1] > precision[0], precision
    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(l)["eval/fid"] for l in lines] == fids
    grids = sorted(p.name for p in (tmp_path / "run" / "samples").iterdir())
    assert grids == ["step_0000000.png", "step_0000300.png", "step_0000600.png"]
    assert (tmp_path / "run" / "checkpoints" / "best.pt").exists()

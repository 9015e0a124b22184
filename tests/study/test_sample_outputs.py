"""``study sample -o``: raw .npz arrays and PNG folders that torch-fidelity reads back exactly."""

from pathlib import Path

import numpy as np
import pytest
import torch

from study.report import SAMPLES_KEY, sample_output_kind, save_samples
from trainables.loop import GanRun

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"


@pytest.fixture(scope="module")
def mnist_run():
    if not (SHARED / "MNIST" / "raw").is_dir():
        pytest.skip("needs ../shared/data/MNIST/raw")
    return GanRun({"gan": "nsgan", "data": {"name": "mnist", "root": str(SHARED), "max_items": 512},
                   "device": "cpu"})


def test_output_kinds():
    assert sample_output_kind("a/b.npz") == "npz"
    assert sample_output_kind("grid.png") == "png"
    assert sample_output_kind("out/") == "dir"
    with pytest.raises(ValueError, match="accepted outputs"):
        sample_output_kind("grid.jpg")


def test_toy_npz_holds_the_generated_points(tmp_path):
    run = GanRun({"gan": "tripletgan", "data": {"name": "ring8"}, "device": "cpu"})
    out = save_samples(run, 300, str(tmp_path / "toy.npz"), seed=5)
    raw = np.load(out)[SAMPLES_KEY]
    assert raw.shape == (300, 2) and raw.dtype == np.float32
    z = run.sample_z(300, generator=torch.Generator().manual_seed(5))
    assert np.array_equal(raw, run.generate(z).numpy())
    with pytest.raises(ValueError, match="2D points"):
        save_samples(run, 10, str(tmp_path / "pngs") + "/")


def test_image_npz_is_uint8_nchw(mnist_run, tmp_path):
    raw = np.load(save_samples(mnist_run, 12, str(tmp_path / "img.npz")))[SAMPLES_KEY]
    assert raw.shape == (12, 1, 32, 32) and raw.dtype == np.uint8


def test_png_folder_reads_back_through_torch_fidelity(mnist_run, tmp_path):
    from torch_fidelity.utils import prepare_input_from_id

    folder = save_samples(mnist_run, 10, str(tmp_path / "pngs") + "/", seed=3)
    raw = np.load(save_samples(mnist_run, 10, str(tmp_path / "same.npz"), seed=3))[SAMPLES_KEY]
    dataset = prepare_input_from_id(1, input1=str(folder), samples_find_deep=False, verbose=False)
    assert len(dataset) == 10
    for i in range(10):  # torch-fidelity reads grey PNGs as RGB uint8: each channel is our image
        image = dataset[i]
        assert image.dtype == torch.uint8 and image.shape == (3, 32, 32)
        assert all(np.array_equal(image[c].numpy(), raw[i, 0]) for c in range(3))

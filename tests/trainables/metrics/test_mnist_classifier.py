"""MNIST classifier (>= 98% held out), its torch-fidelity extractor, and the domain FID on real digits.

The trained classifier is cached in conftest's ``mnist_cache_dir`` (the repository's ignored
``.cache/metrics``), so only the first run trains it (about 20-30 s on 2 idle CPU cores).
"""

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torchvision.datasets.mnist import read_image_file, read_label_file

import trainables.metrics.mnist_classifier as mc
from trainables.metrics.extractors import MNIST_CLASSIFIER, build_extractor, extract_features
from trainables.metrics.fid import ImageEvaluator

RAW = Path(mc.DEFAULT_MNIST_RAW_DIR)


@pytest.fixture(scope="module")
def raw_digits():
    images = read_image_file(str(RAW / "t10k-images-idx3-ubyte")).unsqueeze(1)  # uint8 (N, 1, 28, 28)
    labels = read_label_file(str(RAW / "t10k-labels-idx1-ubyte"))
    return images, labels


@pytest.fixture(scope="module")
def trained(mnist_cache_dir):
    return mc.load_or_train_mnist_classifier(str(mnist_cache_dir), raw_dir=str(RAW), device="cpu")


def test_t10k_loader_pads_with_background_and_scales(raw_digits):
    images, labels = mc.load_mnist_t10k(str(RAW))
    raw_images, raw_labels = raw_digits
    assert images.shape == (10000, 1, 32, 32) and images.dtype == torch.float32
    assert torch.equal(labels, raw_labels)
    border = torch.ones(32, 32, dtype=torch.bool)
    border[2:30, 2:30] = False
    assert (images[:, :, border] == -1).all()
    centre = images[:, :, 2:30, 2:30]
    expected = raw_images.double() * (2.0 / 255.0) - 1.0
    assert torch.allclose(centre.double(), expected, atol=1e-6)
    assert centre.min() == -1 and centre.max() == 1


def test_classifier_reaches_98_percent_held_out(trained, raw_digits, monkeypatch, mnist_cache_dir):
    path, model, meta = trained
    assert meta["heldout_accuracy"] >= 0.98
    payload = torch.load(path, weights_only=True)
    assert set(payload) == {"state_dict", "meta"}

    # recount the held-out accuracy through the registered torch-fidelity extractor, from raw uint8 28x28
    images, labels = raw_digits
    _, held = mc.split_indices(len(images), meta["seed"], meta["train_count"])
    extractor = build_extractor(MNIST_CLASSIFIER, str(path), "cpu")
    feats = extract_features(extractor, MNIST_CLASSIFIER, images[held], batch_size=500)
    assert feats["128"].shape == (len(held), 128) and feats["logits"].shape == (len(held), 10)
    predictions = feats["logits"].argmax(dim=1)
    correct = 0
    for prediction, label in zip(predictions.tolist(), labels[held].tolist()):
        correct += int(prediction == label)
    assert correct / len(held) >= 0.98
    assert correct / len(held) == pytest.approx(meta["heldout_accuracy"], abs=1e-3)

    # a second request loads the cached file and does not train
    def no_training(*args, **kwargs):
        raise AssertionError("the cached classifier must be reused")

    monkeypatch.setattr(mc, "train_mnist_classifier", no_training)
    again_path, _, again_meta = mc.load_or_train_mnist_classifier(str(mnist_cache_dir), raw_dir=str(RAW), device="cpu")
    assert again_path == path and again_meta == meta


def test_domain_fid_and_class_balance_on_real_digits(trained, raw_digits, tmp_path):
    path, _, _ = trained
    images, labels = raw_digits
    digits32 = F.pad(images, (2, 2, 2, 2), value=0)  # uint8 background is 0
    evaluator = ImageEvaluator(
        MNIST_CLASSIFIER,
        lambda: digits32[:5000],
        "mnist-t10k-first5000",
        5000,
        str(tmp_path),
        weights_path=str(path),
        batch_size=500,
        device="cpu",
        kid_subsets=10,
        kid_subset_size=500,
    )
    real_vs_real = evaluator.evaluate(digits32[5000:])
    noise = torch.randint(0, 256, (5000, 1, 32, 32), generator=torch.Generator().manual_seed(0)).to(torch.uint8)
    real_vs_noise = evaluator.evaluate(noise)
    assert real_vs_real["fid"] * 20 < real_vs_noise["fid"]
    assert real_vs_real["kid"] * 20 < real_vs_noise["kid"]
    assert real_vs_real["class_entropy"] > math.log(10) - 0.01
    assert real_vs_real["class_l2"] < 0.05

    # a collapsed generator: 5000 copies of one "1" -> entropy ~0, L2 ~ sqrt(0.9^2 + 9 * 0.1^2)
    one = digits32[5000:][labels[5000:] == 1][:1]
    collapsed = evaluator.evaluate(one.repeat(5000, 1, 1, 1))
    assert collapsed["class_entropy"] == pytest.approx(0.0, abs=1e-12)
    assert collapsed["class_l2"] == pytest.approx(math.sqrt(0.81 + 0.09), rel=1e-9)
    assert collapsed["fid"] > real_vs_real["fid"] * 20

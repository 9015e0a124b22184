"""FID / KID / IS stages, class balance, extractor registration and the Inception code path."""

import math
import urllib.error

import numpy as np
import pytest
import scipy.linalg
import torch
import torch_fidelity
import torch_fidelity.feature_extractor_inceptionv3 as fe_inception
from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY

from trainables.metrics.class_balance import class_balance
from trainables.metrics.extractors import (
    INCEPTION,
    MNIST_CLASSIFIER,
    FeatureExtractorMnist,
    InceptionWeightsUnavailable,
    build_extractor,
    check_inception_available,
    extract_features,
    register_extractors,
    register_feature_extractor_once,
    write_random_inception_weights,
)
from trainables.metrics.fid import (
    ImageEvaluator,
    feature_statistics,
    frechet_distance,
    images_to_uint8,
    inception_score,
    kid_from_features,
)


def _two_gaussian_sets():
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(200, 16, generator=gen, dtype=torch.float64)
    mix = torch.randn(16, 16, generator=gen, dtype=torch.float64) * 0.5
    b = torch.randn(200, 16, generator=gen, dtype=torch.float64) @ mix + 0.3
    return a.numpy(), b.numpy()


def _loop_mean_cov(x):
    n, d = x.shape
    mu = np.zeros(d)
    for row in x:
        mu += row
    mu /= n
    cov = np.zeros((d, d))
    for row in x:
        cov += np.outer(row - mu, row - mu)
    return mu, cov / (n - 1)


def test_fid_of_a_set_against_itself_is_zero():
    a, _ = _two_gaussian_sets()
    mu, sigma = feature_statistics(torch.from_numpy(a))
    assert mu.dtype == np.float64 and sigma.dtype == np.float64
    assert abs(frechet_distance(mu, sigma, mu, sigma)) < 1e-6


def test_statistics_and_fid_match_independent_sqrtm_formula():
    a, b = _two_gaussian_sets()
    mu_a, cov_a = _loop_mean_cov(a)
    mu_b, cov_b = _loop_mean_cov(b)
    got_mu, got_sigma = feature_statistics(torch.from_numpy(a))
    np.testing.assert_allclose(got_mu, mu_a, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(got_sigma, cov_a, rtol=1e-10, atol=1e-12)
    diff = mu_a - mu_b
    covmean = scipy.linalg.sqrtm(cov_a @ cov_b).real
    expected = diff @ diff + np.trace(cov_a) + np.trace(cov_b) - 2 * np.trace(covmean)
    got = frechet_distance(*feature_statistics(a), *feature_statistics(b))
    assert expected > 1.0
    assert got == pytest.approx(expected, rel=1e-4)


def test_frechet_distance_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="mu1/mu2"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))


def _loop_unbiased_mmd2(x, y, degree=3, coef0=1.0):
    m, d = x.shape

    def k(u, v):
        return (float(np.dot(u, v)) / d + coef0) ** degree

    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / (m * m)
    return xx + yy - 2 * xy


def test_kid_one_full_subset_matches_loop_unbiased_mmd2():
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(30, 8, generator=gen, dtype=torch.float64)
    y = torch.randn(30, 8, generator=gen, dtype=torch.float64) * 1.5 + 0.4
    expected = _loop_unbiased_mmd2(x.numpy(), y.numpy())
    mean, std = kid_from_features(x, y, subsets=1, subset_size=30)
    assert expected > 0.05
    assert mean == pytest.approx(expected, rel=1e-4)
    assert std == 0.0
    # a subset size above the set sizes is clamped to them: the same exact value
    assert kid_from_features(x, y, subsets=1, subset_size=500)[0] == pytest.approx(expected, rel=1e-4)


def test_kid_near_zero_for_same_distribution_and_positive_otherwise():
    gen = torch.Generator().manual_seed(2)
    x, y = torch.randn(300, 8, generator=gen), torch.randn(300, 8, generator=gen)
    same, _ = kid_from_features(x, y, subsets=10, subset_size=100)
    shifted, _ = kid_from_features(x, y + 1.0, subsets=10, subset_size=100)
    assert abs(same) < 0.05 < shifted


def test_inception_score_matches_loop_and_extremes():
    gen = torch.Generator().manual_seed(3)
    logits = torch.randn(40, 5, generator=gen, dtype=torch.float64) * 2
    probs = torch.softmax(logits, dim=1).numpy()
    marginal = probs.mean(axis=0)
    kl = 0.0
    for row in probs:
        kl += sum(p * (math.log(p) - math.log(q)) for p, q in zip(row, marginal))
    expected = math.exp(kl / len(probs))
    assert inception_score(logits, splits=1)[0] == pytest.approx(expected, rel=1e-9)
    assert inception_score(torch.zeros(20, 7), splits=2)[0] == pytest.approx(1.0)
    confident = torch.eye(10, dtype=torch.float64).repeat(3, 1) * 60.0  # every class equally often, certain
    assert inception_score(confident, splits=1)[0] == pytest.approx(10.0, rel=1e-6)


def test_class_balance_on_hand_built_histograms():
    one_class = class_balance(torch.full((1000,), 3, dtype=torch.long))
    assert one_class["class_entropy"] == pytest.approx(0.0, abs=1e-12)
    assert one_class["class_l2"] == pytest.approx(math.sqrt(0.9**2 + 9 * 0.1**2), rel=1e-12)
    uniform = class_balance(torch.arange(10).repeat(100))
    assert uniform["class_entropy"] == pytest.approx(math.log(10), rel=1e-12)
    assert uniform["class_l2"] == pytest.approx(0.0, abs=1e-12)
    # a skewed histogram, given as class scores (argmax counts): classes 0,1,2 with 5, 3, 2 votes
    labels = [0] * 5 + [1] * 3 + [2] * 2
    scores = torch.nn.functional.one_hot(torch.tensor(labels), 10).float() * 4.0 + 0.1
    got = class_balance(scores)
    hist = [0.5, 0.3, 0.2] + [0.0] * 7
    entropy = -sum(p * math.log(p) for p in hist if p > 0)
    l2 = math.sqrt(sum((p - 0.1) ** 2 for p in hist))
    assert got["class_entropy"] == pytest.approx(entropy, rel=1e-12)
    assert got["class_l2"] == pytest.approx(l2, rel=1e-12)


def test_class_balance_rejects_bad_input():
    with pytest.raises(ValueError, match="pred_labels_or_probs"):
        class_balance(torch.tensor([0, 10]))
    with pytest.raises(ValueError, match="pred_labels_or_probs"):
        class_balance(torch.rand(5, 4))


def test_images_to_uint8_maps_tanh_range():
    out = images_to_uint8(torch.tensor([-2.0, -1.0, 0.0, 1.0, 3.0]))
    assert out.dtype == torch.uint8
    assert out.tolist() == [0, 0, 128, 255, 255]


def test_registration_is_idempotent_and_rejects_other_classes():
    register_extractors()
    register_extractors()
    assert FEATURE_EXTRACTORS_REGISTRY[MNIST_CLASSIFIER] is FeatureExtractorMnist
    assert FEATURE_EXTRACTORS_REGISTRY[INCEPTION] is torch_fidelity.FeatureExtractorInceptionV3

    class Other(FeatureExtractorMnist):
        pass

    with pytest.raises(ValueError, match="already registered"):
        register_feature_extractor_once(MNIST_CLASSIFIER, Other)


@pytest.fixture(scope="module")
def inception_weights(tmp_path_factory):
    path = tmp_path_factory.mktemp("inception") / "random-inception.pth"
    write_random_inception_weights(str(path), seed=0)
    return path


def test_inception_from_weights_file_resizes_to_299_and_returns_2048_features(inception_weights):
    torch.manual_seed(0)
    extractor = build_extractor(INCEPTION, str(inception_weights), "cpu")
    assert isinstance(extractor, torch_fidelity.FeatureExtractorInceptionV3)
    seen = []
    extractor.Conv2d_1a_3x3.conv.register_forward_hook(
        lambda module, inputs, output: seen.append((tuple(inputs[0].shape), tuple(output.shape)))
    )
    gray = torch.randint(0, 256, (3, 1, 32, 32), dtype=torch.uint8)
    feats = extract_features(extractor, INCEPTION, gray, batch_size=3)
    assert seen == [((3, 3, 299, 299), (3, 32, 149, 149))]
    assert feats["2048"].shape == (3, 2048) and feats["logits_unbiased"].shape == (3, 1008)
    assert torch.isfinite(feats["2048"]).all()
    # grey input is the same image repeated on 3 channels
    rgb = extract_features(extractor, INCEPTION, gray.repeat(1, 3, 1, 1), batch_size=3)
    assert torch.equal(rgb["2048"], feats["2048"])
    # the weights really came from the file
    state = torch.load(inception_weights, weights_only=True)
    assert torch.equal(state["Conv2d_1a_3x3.conv.weight"], extractor.Conv2d_1a_3x3.conv.weight)


def test_offline_without_weights_raises_one_line_error(monkeypatch, tmp_path):
    def no_network(*args, **kwargs):
        raise urllib.error.URLError("no route to host")

    monkeypatch.setattr(fe_inception, "load_state_dict_from_url", no_network)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    with pytest.raises(InceptionWeightsUnavailable) as info:
        check_inception_available(None)
    message = str(info.value)
    assert "\n" not in message and "download" in message and "weights_path" in message
    with pytest.raises(InceptionWeightsUnavailable) as info:
        check_inception_available(str(tmp_path / "missing.pth"))
    assert "\n" not in str(info.value) and "not found" in str(info.value)

    def real_images():
        raise AssertionError("real images must not be loaded when the extractor is unavailable")

    with pytest.raises(InceptionWeightsUnavailable):
        ImageEvaluator(INCEPTION, real_images, "cifar10-train", 10, str(tmp_path / "stats"), device="cpu")


def test_evaluator_rejects_unknown_extractor(tmp_path):
    with pytest.raises(ValueError, match="extractor"):
        ImageEvaluator("resnet", lambda: None, "x", 10, str(tmp_path))

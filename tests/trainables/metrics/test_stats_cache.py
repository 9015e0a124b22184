"""Real-data statistics cache: hits skip all real-image work, key changes miss, writes are atomic."""

import threading
import time

import pytest
import torch

from trainables.metrics.extractors import MNIST_CLASSIFIER
from trainables.metrics.fid import ImageEvaluator
from trainables.metrics.mnist_classifier import MnistClassifier, save_mnist_classifier
from trainables.metrics.stats_cache import StatsKey, cached_stats, load_stats


def _classifier_file(path, seed):
    """An untrained (random) classifier file: enough to exercise the cache quickly."""
    torch.manual_seed(seed)
    save_mnist_classifier(MnistClassifier(), {"heldout_accuracy": 0.0, "seed": seed}, str(path))
    return str(path)


class RealSet:
    """real_images_fn that counts its calls."""

    def __init__(self, count=48, size=32, seed=0):
        gen = torch.Generator().manual_seed(seed)
        self.images = torch.randint(0, 256, (count, 1, size, size), generator=gen).to(torch.uint8)
        self.calls = 0

    def __call__(self):
        self.calls += 1
        return self.images


def _count_images(evaluator):
    seen = []
    evaluator.extractor.register_forward_pre_hook(lambda module, args: seen.append(len(args[0])))
    return seen


def _evaluator(real, cache_dir, weights, num_samples=40):
    return ImageEvaluator(
        MNIST_CLASSIFIER,
        real,
        "random-digits",
        num_samples,
        str(cache_dir),
        weights_path=weights,
        batch_size=16,
        device="cpu",
        kid_subsets=4,
        kid_subset_size=16,
    )


def test_second_evaluation_does_no_real_feature_extraction(tmp_path):
    weights = _classifier_file(tmp_path / "clf0.pt", seed=0)
    cache_dir = tmp_path / "stats"
    real = RealSet()
    fake = torch.randint(0, 256, (20, 1, 32, 32), generator=torch.Generator().manual_seed(5)).to(torch.uint8)

    first = _evaluator(real, cache_dir, weights)
    seen = _count_images(first)
    out1 = first.evaluate(fake)
    assert real.calls == 1 and first.last_cache_hit is False
    assert sum(seen) == 40 + 20  # num_samples real images, then the fakes
    assert set(out1) == {"fid", "kid", "precision", "recall", "class_entropy", "class_l2"}

    # same evaluator again: the fakes only
    seen.clear()
    assert first.evaluate(fake) == pytest.approx(out1)
    assert real.calls == 1 and sum(seen) == 20 and first.last_cache_hit is True

    # a new evaluator (another trial) with the same key: still no real-image work
    second = _evaluator(real, cache_dir, weights)
    seen2 = _count_images(second)
    out2 = second.evaluate(fake)
    assert real.calls == 1 and sum(seen2) == 20 and second.last_cache_hit is True
    assert out2 == pytest.approx(out1)

    # the same weights under another file name: the key uses the content, so still a hit
    copy = tmp_path / "copy-of-clf0.pt"
    copy.write_bytes((tmp_path / "clf0.pt").read_bytes())
    assert _evaluator(real, cache_dir, str(copy)).evaluate(fake) == pytest.approx(out1)
    assert real.calls == 1

    # no temporary files are left behind, and the entry holds tensors only
    names = [p.name for p in cache_dir.iterdir()]
    assert not [n for n in names if n.startswith(".tmp-")]
    entry = load_stats(str(cache_dir), second.stats_key((32, 32)))
    assert set(entry) == {"mu", "sigma", "kid_features"}
    assert entry["mu"].dtype == torch.float64 and entry["sigma"].shape == (128, 128)
    assert entry["kid_features"].shape == (40, 128)


def test_changed_sample_count_or_weights_content_misses(tmp_path):
    cache_dir = tmp_path / "stats"
    real = RealSet()
    fake = torch.randint(0, 256, (20, 1, 32, 32), generator=torch.Generator().manual_seed(6)).to(torch.uint8)
    w0 = _classifier_file(tmp_path / "clf0.pt", seed=0)
    w1 = _classifier_file(tmp_path / "clf1.pt", seed=1)

    _evaluator(real, cache_dir, w0, num_samples=40).evaluate(fake)
    assert real.calls == 1
    fewer = _evaluator(real, cache_dir, w0, num_samples=32)
    fewer.evaluate(fake)
    assert real.calls == 2 and fewer.last_cache_hit is False
    other_weights = _evaluator(real, cache_dir, w1, num_samples=40)
    other_weights.evaluate(fake)
    assert real.calls == 3 and other_weights.last_cache_hit is False
    # another image size is another key too (28x28 digits)
    small = RealSet(size=28)
    fake28 = fake[:, :, 2:30, 2:30].contiguous()
    _evaluator(small, cache_dir, w0, num_samples=40).evaluate(fake28)
    assert small.calls == 1
    assert len(list(cache_dir.glob("*.pt"))) == 4


def test_real_set_too_small_or_wrong_size_is_rejected(tmp_path):
    weights = _classifier_file(tmp_path / "clf.pt", seed=0)
    fake = torch.zeros(4, 1, 32, 32, dtype=torch.uint8)
    with pytest.raises(ValueError, match="num_samples"):
        _evaluator(RealSet(count=10), tmp_path / "a", weights, num_samples=40).evaluate(fake)
    with pytest.raises(ValueError, match="size"):
        _evaluator(RealSet(size=28), tmp_path / "b", weights, num_samples=40).evaluate(fake)
    with pytest.raises(ValueError, match="uint8"):
        _evaluator(RealSet(), tmp_path / "c", weights).evaluate(fake.float())


def test_stats_key_file_names_differ_per_field():
    base = dict(dataset="mnist-t10k", extractor="x", weights_id="download", num_samples=10, image_size=(32, 32))
    names = {
        StatsKey(**base, layers=("128",)).filename(),
        StatsKey(**{**base, "dataset": "mnist-train"}, layers=("128",)).filename(),
        StatsKey(**{**base, "weights_id": "ab" * 32}, layers=("128",)).filename(),
        StatsKey(**{**base, "num_samples": 11}, layers=("128",)).filename(),
        StatsKey(**{**base, "image_size": (28, 28)}, layers=("128",)).filename(),
        StatsKey(**base, layers=("logits",)).filename(),
    }
    assert len(names) == 6
    assert all("/" not in name and name.endswith(".pt") for name in names)


def test_concurrent_misses_compute_once(tmp_path):
    key = StatsKey("d", "e", "download", 3, (8, 8), ("f",))
    computed = []

    def compute():
        computed.append(threading.get_ident())
        time.sleep(0.3)
        return {"mu": torch.arange(3.0)}

    results = []
    def worker():
        results.append(cached_stats(str(tmp_path), key, compute))

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(computed) == 1
    assert sorted(hit for _, hit in results) == [False, True, True]
    assert all(torch.equal(entry["mu"], torch.arange(3.0)) for entry, _ in results)

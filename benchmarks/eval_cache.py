"""Cost of one image evaluation with and without the real-data statistics cache.

Times ``ImageEvaluator.evaluate`` on generated MNIST digits with the domain extractor
(mnist-classifier): the first call on an empty cache directory extracts features of the real
images (miss), later calls read the statistics from disk (a new evaluator, so no memory copy).
Writes ``benchmarks/results/eval_cache.md``.

    python benchmarks/eval_cache.py --num-samples 10000
    python benchmarks/eval_cache.py --smoke-test
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from trainables.evaluation import image_backend
from trainables.loop import GanRun

RESULTS = Path(__file__).resolve().parent / "results"


def timed_evaluation(run, fake) -> tuple[float, bool]:
    backend = image_backend(run)  # new evaluator: only the on-disk cache can help
    t0 = time.perf_counter()
    backend.evaluate(fake)
    return time.perf_counter() - t0, bool(backend.last_cache_hit)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-samples", type=int, default=10000, help="real and fake images per evaluation")
    parser.add_argument("--kid-subsets", type=int, default=0, help="KID subsets (0: FID only, the cached part)")
    parser.add_argument("--repeats", type=int, default=3, help="timed cache hits")
    parser.add_argument("--smoke-test", action="store_true", help="CI size: 500 samples, 1 repeat, temp output")
    args = parser.parse_args(argv)
    out = RESULTS / "eval_cache.md"
    if args.smoke_test:
        args.num_samples, args.repeats = 500, 1
        out = Path(tempfile.mkdtemp()) / "eval_cache.md"
    torch.set_num_threads(1)
    classifier_cache = Path(__file__).resolve().parents[1] / ".cache" / "metrics"
    with tempfile.TemporaryDirectory() as stats_dir:
        # The classifier lives in the shared cache; the statistics in a fresh directory.
        run = GanRun({"gan": "nsgan", "data": {"name": "mnist"}, "device": "cpu",
                      "eval": {"num_samples": args.num_samples, "kid_subsets": args.kid_subsets, "cache_dir": str(classifier_cache)}})
        from trainables.data.images import to_uint8

        weights = image_backend(run).weights_path  # trains/loads the classifier outside the timings
        config = run.cfg.to_dict()
        config["eval"].update(cache_dir=stats_dir, weights_path=weights)
        run = GanRun(config)
        fake = to_uint8(run.generate(run.sample_z(args.num_samples)))
        miss, hit = timed_evaluation(run, fake)
        assert not hit, "first evaluation should miss"
        hits = []
        for _ in range(args.repeats):
            seconds, hit = timed_evaluation(run, fake)
            assert hit, "later evaluations should hit"
            hits.append(seconds)
    hit_mean = statistics.mean(hits)
    text = (f"# One evaluation, MNIST domain FID+KID+class balance, {args.num_samples} real / "
            f"{args.num_samples} fake images, KID subsets {args.kid_subsets}, CPU 1 thread\n\n"
            "| real statistics | seconds |\n|---|---|\n"
            f"| computed (cache miss) | {miss:.2f} |\n| read from cache (mean of {len(hits)}) | {hit_mean:.2f} |\n\n"
            f"Ratio miss / hit: **{miss / hit_mean:.2f}x**\n")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

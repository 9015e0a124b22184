"""Evaluation during training: one interface, one primary metric + mode per dataset.

An evaluator is built once per run (:func:`build_evaluator`); it owns the fixed evaluation noise
so every evaluation of a run sees the same latent codes. ``evaluate(run)`` returns a dict of
metric names (``trainables.metric_names``) to floats; ``primary`` / ``mode`` tell the study layer
what to optimise. The toy mixtures use the PacGAN measures on 2,500 points; images use FID
through torch-fidelity (``trainables.metrics.fid``).
"""

from __future__ import annotations

from pathlib import Path

import torch

from trainables import metric_names as M
from trainables.config import RunConfig
from trainables.data.toy import ToyStream, mixture_of
from trainables.metrics.prc import precision_recall
from trainables.metrics.toy import toy_measures
from trainables.plots import image_grid, scatter_plot
from trainables.ranking import RankRule

TOY_KEYS = M.metrics_of(M.TOY)  # measure key -> metric name
IMAGE_KEYS = M.metrics_of(M.IMAGES)


def metric_family(cfg: RunConfig) -> str:
    """The metrics family of ``cfg``'s dataset (``metric_names.TOY`` or ``IMAGES``)."""
    return M.TOY if cfg.is_toy else M.IMAGES


def primary_metric(cfg: RunConfig) -> tuple[str, str]:
    """(metric name, "min" | "max") optimised for ``cfg``'s dataset."""
    name = M.PRIMARY[metric_family(cfg)]
    return name, M.mode_of(name)


def optimised_metric(cfg: RunConfig, metric: str | None = None) -> tuple[str, str]:
    """(metric, mode) a run is ranked by: ``metric`` when a study overrides it
    (``search.metric``), else :func:`primary_metric`."""
    return (metric, M.mode_of(metric)) if metric else primary_metric(cfg)


def logged_keys(cfg: RunConfig, metric: str) -> list[str]:
    """Every metric key a run of ``cfg`` ranked by ``metric`` logs: its losses, its evaluation
    metrics (``metric`` too, and its raw generator's value with an EMA), their ``best/`` values,
    ``best/step`` and the progress counters (a resumed run's high-water mark reads these)."""
    keys = [M.LOSS_D, M.LOSS_G] + ([M.LOSS_AE] if cfg.hparams.needs_encoder else [])
    evals = list(M.metrics_of(M.TOY if cfg.is_toy else M.IMAGES).values())
    evals += [] if metric in evals else [metric]
    evals += [M.raw_of(metric)] if cfg.ema.on else []
    return keys + evals + [M.best_of(k) for k in evals] + [M.BEST_STEP, M.TRAINED_STEPS, M.TRAINED_EVALS]


def worst_value(mode: str) -> float:
    """A finite worst possible value of a metric (diverged runs report it, never NaN)."""
    return -1.0 if mode == "max" else 1e6


class Evaluator:
    """Base: fixed evaluation noise, sample grid, primary metric."""

    def __init__(self, run, num_samples: int, seed: int):
        gen = torch.Generator().manual_seed(seed)
        self.z = run.sample_z(num_samples, generator=gen).cpu()
        self.primary, self.mode = primary_metric(run.cfg)
        self.rank = RankRule()  # which evaluation becomes best.pt (a study sets its own)

    def samples(self, run, raw: bool = False) -> torch.Tensor:
        return run.generate(self.z, raw=raw)

    def evaluate(self, run) -> dict[str, float]:
        """The metrics of the generator the run is judged by (the EMA one when ``run.ema`` is on),
        plus, with EMA, the raw generator's optimised metric as ``eval_raw/<metric>``."""
        out = self.measure(self.samples(run))
        if run.ema is not None and self.primary in out:
            out[M.raw_of(self.primary)] = self.measure(self.samples(run, raw=True))[self.primary]
        return out

    def is_best(self, step: int, value: float, best: float | None) -> bool:
        """Does the evaluation at ``step`` become the run's ranked checkpoint (``best.pt``)?"""
        return self.rank.is_new_checkpoint(step, value, best, self.mode)


class ToyEvaluator(Evaluator):
    """PacGAN's protocol: modes / modes_20 / hq / kl / jsd / fit on 2,500 generated points, plus
    improved precision / recall against as many points of the true mixture (fixed, seeded)."""

    def __init__(self, run, num_samples: int, seed: int):
        super().__init__(run, num_samples, seed)
        self.mixture = mixture_of(run.cfg.data)
        self.real = None
        if run.cfg.eval.prc is not False:  # None (auto) or True: milliseconds on 2,500 points
            self.real = ToyStream(self.mixture, num_samples, seed).sample(num_samples)

    def measure(self, points: torch.Tensor) -> dict[str, float]:
        measures = toy_measures(points, self.mixture)
        if self.real is not None:
            measures.update(precision_recall(points, self.real))
        out = {TOY_KEYS[k]: float(v) for k, v in measures.items()}
        return out | {m.name: float(m.compute(points, self.mixture)) for m in M.computed(M.TOY)}

    def save_samples(self, run, path: Path) -> Path:
        """Scatter plot of the evaluation points over the mixture's modes."""
        return scatter_plot(self.samples(run), self.mixture,
                            f"{run.cfg.gan} on {self.mixture.name}, step {run.step}", path)


class ImageEvaluator(Evaluator):
    """FID (+ KID, IS / class balance) of generated images via torch-fidelity; grid images."""

    def __init__(self, run, num_samples: int, seed: int):
        super().__init__(run, num_samples, seed)
        self.grid_z = self.z[: run.cfg.eval.grid_size]
        self.backend = image_backend(run)

    def measure(self, images: torch.Tensor) -> dict[str, float]:
        from trainables.data.images import to_uint8  # here and below: torchvision / torch-fidelity only for images

        fake = to_uint8(images)
        result = self.backend.evaluate(fake)
        out = {IMAGE_KEYS[k]: float(v) for k, v in result.items() if k in IMAGE_KEYS}
        return out | {m.name: float(m.compute(fake, None)) for m in M.computed(M.IMAGES)}

    def save_samples(self, run, path: Path) -> Path:
        return image_grid(run.generate(self.grid_z), path)  # the EMA generator when run.ema is on


def default_extractor(dataset: str) -> str:
    """MNIST: the domain classifier (works offline); other images: Inception."""
    return "mnist-classifier" if dataset == "mnist" else "inception-v3-compat"


def image_backend(run):
    """The torch-fidelity evaluator of an image run: real statistics of its training set,
    cached in ``eval.cache_dir`` under a key naming dataset, split, size and item count."""
    from trainables.data.images import real_images
    from trainables.metrics.fid import ImageEvaluator as FidelityEvaluator

    cfg = run.cfg
    dataset = run.stream.dataset
    shape = "x".join(map(str, run.data_shape))
    key = f"{cfg.data.name}-train-{len(dataset)}items-{shape}"
    options = {}
    if cfg.data.name == "mnist":
        options["mnist_raw_dir"] = str(Path(cfg.data.root) / "MNIST" / "raw")
    return FidelityEvaluator(
        extractor=cfg.eval.extractor or default_extractor(cfg.data.name),
        real_images_fn=lambda: real_images(dataset, cfg.eval.num_samples, seed=cfg.eval.seed),
        dataset_key=key, num_samples=cfg.eval.num_samples, cache_dir=cfg.eval.cache_dir,
        weights_path=cfg.eval.weights_path, device=str(run.device), kid_subsets=cfg.eval.kid_subsets,
        prc=cfg.eval.prc, **options,
    )


def build_evaluator(run) -> Evaluator:
    """The evaluator of ``run``'s dataset."""
    cls = ToyEvaluator if run.cfg.is_toy else ImageEvaluator
    return cls(run, run.cfg.eval.num_samples, run.cfg.eval.seed)

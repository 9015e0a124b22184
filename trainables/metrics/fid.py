"""Image quality through torch-fidelity: features -> statistics -> FID / KID / IS, and the evaluator.

The metric formulas are torch-fidelity's own functions (``fid_features_to_statistics``,
``fid_statistics_to_metric``, ``kid_features_to_metric``, ``isc_features_to_metric``); this module
feeds them features from the extractors of :mod:`trainables.metrics.extractors` and keeps the
real-data statistics in the shared on-disk cache of :mod:`trainables.metrics.stats_cache`.
"""

from typing import Callable

import numpy as np
import torch
from torch_fidelity.metric_fid import KEY_METRIC_FID, fid_features_to_statistics, fid_statistics_to_metric
from torch_fidelity.metric_isc import KEY_METRIC_ISC_MEAN, KEY_METRIC_ISC_STD, isc_features_to_metric
from torch_fidelity.metric_kid import KEY_METRIC_KID_MEAN, KEY_METRIC_KID_STD, kid_features_to_metric

from trainables.device import pick_device
from trainables.metrics.class_balance import class_balance
from trainables.metrics.extractors import INCEPTION, MNIST_CLASSIFIER, build_extractor, extract_features, extractor_spec
from trainables.metrics.mnist_classifier import DEFAULT_MNIST_RAW_DIR
from trainables.metrics.prc import precision_recall
from trainables.metrics.stats_cache import StatsKey, cached_stats

TF_RNG_SEED = 2020  # torch-fidelity's default rng_seed (KID subsets, IS shuffling)


def _as_2d_features(features, name: str) -> torch.Tensor:
    """Features as a CPU float64 tensor (N, D); ValueError when not 2-D."""
    features = torch.as_tensor(features).detach().cpu().double()
    if features.dim() != 2:
        raise ValueError(f"{name} shape = {tuple(features.shape)}: expected (N, D)")
    return features


def feature_statistics(features) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(mu, sigma)``: the mean (D,) and unbiased covariance (D, D) of features (N, D), float64.

    Computed by torch-fidelity's ``fid_features_to_statistics`` on float64 features; N >= 2.
    """
    features = _as_2d_features(features, "features")
    if len(features) < 2:
        raise ValueError(f"features count = {len(features)}: need >= 2 rows for a covariance")
    stats = fid_features_to_statistics(features)
    return np.asarray(stats["mu"], dtype=np.float64), np.atleast_2d(np.asarray(stats["sigma"], dtype=np.float64))


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """Frechet distance ``||mu1 - mu2||^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^{1/2})``.

    torch-fidelity's ``fid_statistics_to_metric`` (the trace of the square root is the sum of the
    square roots of the eigenvalues of S1 S2). Inputs are converted to float64 numpy arrays.
    """
    mu1, mu2 = (np.asarray(m, dtype=np.float64) for m in (mu1, mu2))
    sigma1, sigma2 = (np.asarray(s, dtype=np.float64) for s in (sigma1, sigma2))
    if mu1.ndim != 1 or mu1.shape != mu2.shape:
        raise ValueError(f"mu1/mu2 shapes = {mu1.shape}/{mu2.shape}: expected equal (D,)")
    if sigma1.shape != (len(mu1), len(mu1)) or sigma2.shape != sigma1.shape:
        raise ValueError(f"sigma1/sigma2 shapes = {sigma1.shape}/{sigma2.shape}: expected ({len(mu1)}, {len(mu1)})")
    out = fid_statistics_to_metric({"mu": mu1, "sigma": sigma1}, {"mu": mu2, "sigma": sigma2}, verbose=False)
    return float(out[KEY_METRIC_FID])


def kid_from_features(
    features_1,
    features_2,
    subsets: int = 100,  # torch-fidelity's default number of subsets
    subset_size: int = 1000,  # torch-fidelity's default subset size
    degree: int = 3,  # polynomial kernel (gamma x.y + coef0)^degree, the KID kernel
    gamma: float | None = None,  # None: 1 / feature dimension
    coef0: float = 1.0,  # kernel offset
    rng_seed: int = TF_RNG_SEED,  # seeds the subset draws
) -> tuple[float, float]:
    """Kernel Inception Distance: ``(mean, std)`` over ``subsets`` of the unbiased MMD^2.

    Each subset draws ``subset_size`` rows of each set without replacement and computes
    ``sum_{i!=j} k(x_i,x_j)/(m(m-1)) + sum_{i!=j} k(y_i,y_j)/(m(m-1)) - 2 sum_{i,j} k(x_i,y_j)/m^2``
    with ``k(x, y) = (gamma x.y + coef0)^degree`` (torch-fidelity's ``kid_features_to_metric``, in
    float64). Choice: ``subset_size`` larger than either set is clamped to the smaller set size.
    """
    f1, f2 = _as_2d_features(features_1, "features_1"), _as_2d_features(features_2, "features_2")
    if f1.shape[1] != f2.shape[1]:
        raise ValueError(f"features_1/features_2 widths = {f1.shape[1]}/{f2.shape[1]}: must match")
    if subsets < 1 or subset_size < 2:
        raise ValueError(f"subsets = {subsets}, subset_size = {subset_size}: need subsets >= 1 and subset_size >= 2")
    size = min(subset_size, len(f1), len(f2))
    if size < 2:
        raise ValueError(f"feature counts = {len(f1)}/{len(f2)}: need >= 2 rows each")
    out = kid_features_to_metric(
        f1,
        f2,
        kid_subsets=subsets,
        kid_subset_size=size,
        kid_kernel="poly",
        kid_kernel_poly_degree=degree,
        kid_kernel_poly_gamma=gamma,
        kid_kernel_poly_coef0=coef0,
        rng_seed=rng_seed,
        verbose=False,
    )
    return float(out[KEY_METRIC_KID_MEAN]), float(out[KEY_METRIC_KID_STD])


def inception_score(logits, splits: int = 10, rng_seed: int = TF_RNG_SEED) -> tuple[float, float]:
    """Inception score ``exp(E_x KL(p(y|x) || p(y)))``: ``(mean, std)`` over ``splits`` chunks.

    torch-fidelity's ``isc_features_to_metric`` on the logits (rows shuffled with ``rng_seed``);
    choice: ``splits`` is clamped to the number of rows.
    """
    logits = _as_2d_features(logits, "logits")
    if splits < 1:
        raise ValueError(f"splits = {splits}: must be >= 1")
    out = isc_features_to_metric(logits, splits=min(splits, len(logits)), shuffle=True, rng_seed=rng_seed)
    return float(out[KEY_METRIC_ISC_MEAN]), float(out[KEY_METRIC_ISC_STD])


def images_to_uint8(images: torch.Tensor, low: float = -1.0, high: float = 1.0) -> torch.Tensor:
    """Map float images in [low, high] (generator output, default tanh range) to uint8 [0, 255].

    ``round((clamp(x, low, high) - low) / (high - low) * 255)``.
    """
    if high <= low:
        raise ValueError(f"low/high = {low}/{high}: need low < high")
    scaled = (images.detach().float().clamp(low, high) - low) / (high - low) * 255.0
    return scaled.round().to(torch.uint8)


# Metrics computed from the fake images' logits, per extractor (dict dispatch).
_LOGIT_METRICS: dict[str, Callable[[torch.Tensor], dict[str, float]]] = {
    INCEPTION: lambda logits: {"is": inception_score(logits)[0]},
    MNIST_CLASSIFIER: lambda logits: class_balance(logits, num_classes=logits.shape[1]),
}


class ImageEvaluator:
    """FID / KID (+ IS for Inception, + class balance for the MNIST classifier) of generated images.

    ``extractor``: ``"inception-v3-compat"`` or ``"mnist-classifier"``. ``real_images_fn()``
    returns real uint8 images (N, C, H, W), N >= ``num_samples`` (the first ``num_samples`` are
    used); it is only called when the real statistics are not in ``cache_dir``. ``dataset_key``
    names the dataset and split (e.g. ``"mnist-t10k"``). ``weights_path``: Inception: a local
    weights file, None = torch-fidelity's download (fails early with a one-line error offline);
    MNIST: a classifier file, None = train once and cache it in ``cache_dir``.

    The real-statistics cache key is (dataset_key, extractor, SHA256 of the weights file or
    "download", num_samples, image H x W of the evaluated images, feature layer). Stored: mu and
    sigma (float64) and up to ``kid_real_max`` real feature rows (seeded subset) for KID.
    """

    def __init__(
        self,
        extractor: str,
        real_images_fn: Callable[[], torch.Tensor],
        dataset_key: str,
        num_samples: int,
        cache_dir: str,
        weights_path: str | None = None,
        batch_size: int = 64,  # images per extractor forward
        device: str = "auto",  # "auto": CUDA when present
        kid_subsets: int = 100,  # torch-fidelity's default; 0 = no KID
        kid_subset_size: int = 1000,  # torch-fidelity's default (clamped to the set sizes)
        kid_real_max: int = 10000,  # real feature rows kept in the cache for KID (and precision/recall)
        prc: bool | None = None,  # precision/recall; None: on unless Inception features on CPU
        mnist_raw_dir: str = DEFAULT_MNIST_RAW_DIR,  # where the MNIST classifier is trained from
    ):
        self.spec = extractor_spec(extractor)
        if num_samples < 2:
            raise ValueError(f"num_samples = {num_samples}: must be >= 2")
        if not dataset_key or not isinstance(dataset_key, str):
            raise ValueError(f"dataset_key = {dataset_key!r}: expected a non-empty string such as 'mnist-t10k'")
        self.name = extractor
        self.real_images_fn = real_images_fn
        self.dataset_key = dataset_key
        self.num_samples = int(num_samples)
        self.cache_dir = str(cache_dir)
        self.batch_size = int(batch_size)
        self.device = pick_device(device)
        self.kid_subsets, self.kid_subset_size, self.kid_real_max = kid_subsets, kid_subset_size, kid_real_max
        self.weights_path, self.weights_id = self.spec.resolve_weights(
            weights_path, self.cache_dir, mnist_raw_dir=mnist_raw_dir, device=str(self.device)
        )
        self.extractor = build_extractor(extractor, self.weights_path, self.device)
        # Precision/recall on one CPU core, 10k images: 6.9 s on the MNIST classifier's 128-d
        # features, 23 s on Inception's 2048-d ones (trainables.config.EvalConfig.prc).
        self.prc = prc if prc is not None else (extractor != INCEPTION or self.device.type == "cuda")
        self.last_cache_hit: bool | None = None  # whether the last evaluate() found the real statistics cached
        self._real: dict[tuple[int, int], dict[str, torch.Tensor]] = {}  # in-memory copy per image size

    def stats_key(self, image_size: tuple[int, int]) -> StatsKey:
        """Cache key of the real statistics for images of ``image_size`` (H, W)."""
        return StatsKey(
            dataset=self.dataset_key,
            extractor=self.name,
            weights_id=self.weights_id,
            num_samples=self.num_samples,
            image_size=(int(image_size[0]), int(image_size[1])),
            layers=(self.spec.feature_layer,),
        )

    def _compute_real_stats(self, image_size: tuple[int, int]) -> dict[str, torch.Tensor]:
        """Extract features of the first ``num_samples`` real images; return mu, sigma, kid_features."""
        real = self.real_images_fn()
        if not torch.is_tensor(real) or real.dtype != torch.uint8 or real.dim() != 4:
            raise ValueError("real_images_fn(): expected a uint8 tensor (N, C, H, W)")
        if len(real) < self.num_samples:
            raise ValueError(f"num_samples = {self.num_samples}: real_images_fn() returned only {len(real)} images")
        if tuple(real.shape[-2:]) != tuple(image_size):
            raise ValueError(
                f"real images size {tuple(real.shape[-2:])} differs from the evaluated size {tuple(image_size)}"
            )
        feats = extract_features(self.extractor, self.name, real[: self.num_samples], self.batch_size)
        feats = feats[self.spec.feature_layer]
        mu, sigma = feature_statistics(feats)
        keep = torch.randperm(len(feats), generator=torch.Generator().manual_seed(TF_RNG_SEED))[: self.kid_real_max]
        return {"mu": torch.from_numpy(mu), "sigma": torch.from_numpy(sigma), "kid_features": feats[keep].float()}

    def real_stats(self, image_size: tuple[int, int]) -> dict[str, torch.Tensor]:
        """The cached real statistics for ``image_size`` (memory, then disk), computed and stored on a miss."""
        if image_size in self._real:
            self.last_cache_hit = True
            return self._real[image_size]
        key = self.stats_key(image_size)
        entry, self.last_cache_hit = cached_stats(self.cache_dir, key, lambda: self._compute_real_stats(image_size))
        self._real[image_size] = entry
        return entry

    def evaluate(self, fake_images_uint8: torch.Tensor) -> dict[str, float]:
        """Score generated uint8 images (N, C, H, W) against the real statistics.

        Returns ``{"fid", "kid"}`` (+ ``"precision", "recall"`` when on) plus ``"is"`` (Inception) or
        ``"class_entropy", "class_l2"`` (MNIST classifier). FID depends on both sample counts: state them when reporting.
        """
        fake = fake_images_uint8
        if not torch.is_tensor(fake) or fake.dtype != torch.uint8 or fake.dim() != 4 or len(fake) < 2:
            raise ValueError("fake_images_uint8: expected a uint8 tensor (N >= 2, C, H, W); see images_to_uint8")
        real = self.real_stats(tuple(fake.shape[-2:]))
        feats = extract_features(self.extractor, self.name, fake, self.batch_size)
        mu, sigma = feature_statistics(feats[self.spec.feature_layer])
        out = {"fid": frechet_distance(real["mu"].numpy(), real["sigma"].numpy(), mu, sigma)}
        if self.kid_subsets > 0:  # KID costs seconds per evaluation on CPU: 0 turns it off
            out["kid"] = kid_from_features(
                real["kid_features"], feats[self.spec.feature_layer], self.kid_subsets, self.kid_subset_size
            )[0]
        if self.prc:
            out.update(precision_recall(feats[self.spec.feature_layer], real["kid_features"]))
        out.update(_LOGIT_METRICS[self.name](feats[self.spec.logits_layer]))
        return out

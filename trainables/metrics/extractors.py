"""Feature extractors registered with torch-fidelity: Inception-v3 (``inception-v3-compat``) and the
MNIST classifier (``mnist-classifier``), plus how to get their weights and run them on uint8 images.

torch-fidelity's ``FeatureExtractorInceptionV3`` takes uint8 (N, 3, H, W) of any size and resizes
to 299x299 itself (TF1-compatible bilinear resize in its ``forward``); it loads its weights from
``feature_extractor_weights_path`` when given (a local ``.pth`` state dict), else downloads them
once into torch.hub's checkpoint folder.
"""

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
import torch_fidelity
import torch_fidelity.feature_extractor_inceptionv3 as _fe_inception
from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY
from torch_fidelity.utils import create_feature_extractor

from trainables.device import pick_device
from trainables.metrics.mnist_classifier import (
    DEFAULT_MNIST_RAW_DIR,
    load_mnist_classifier,
    load_or_train_mnist_classifier,
    pad_to_32,
    uint8_to_unit_range,
)
from trainables.metrics.stats_cache import DOWNLOAD_WEIGHTS_ID, atomic_torch_save, sha256_file

INCEPTION = "inception-v3-compat"  # torch-fidelity's registered name of its Inception-v3
MNIST_CLASSIFIER = "mnist-classifier"  # our registered name of the MNIST domain extractor


class InceptionWeightsUnavailable(RuntimeError):
    """Raised (one line) when Inception weights can neither be downloaded nor read from a local file."""


class FeatureExtractorMnist(torch_fidelity.FeatureExtractorBase):
    """torch-fidelity feature extractor wrapping :class:`MnistClassifier`.

    Input: uint8 (N, 1, H, W) or (N, 3, H, W) with H = W = 32 (or 28, padded with background);
    3-channel input is averaged to grey. Features: ``"128"`` (penultimate ReLU layer) and
    ``"logits"`` (10 class logits). Weights: the classifier file given as
    ``feature_extractor_weights_path`` (required; see ``load_or_train_mnist_classifier``).
    """

    def __init__(self, name, features_list, feature_extractor_weights_path=None, **kwargs):
        super().__init__(name, features_list)
        if feature_extractor_weights_path is None:
            raise ValueError(
                f"feature_extractor_weights_path = None: {MNIST_CLASSIFIER} needs a classifier file "
                "(trainables.metrics.mnist_classifier.load_or_train_mnist_classifier writes one)"
            )
        self.classifier, self.meta = load_mnist_classifier(feature_extractor_weights_path)
        self.requires_grad_(False)
        self.eval()

    def forward(self, x):
        """Return the requested features, in ``features_list`` order, as float32 tensors."""
        if not torch.is_tensor(x) or x.dtype != torch.uint8 or x.dim() != 4 or x.shape[1] not in (1, 3):
            raise ValueError("input: expected a uint8 tensor (N, 1|3, H, W)")
        images = pad_to_32(uint8_to_unit_range(x).mean(dim=1, keepdim=True))
        penultimate, logits = self.classifier.features(images)
        features = {"128": penultimate, "logits": logits}
        return tuple(features[name].float() for name in self.features_list)

    @staticmethod
    def get_provided_features_list():
        return "128", "logits"

    @staticmethod
    def get_default_feature_layer_for_metric(metric):
        return {"isc": "logits", "fid": "128", "kid": "128", "prc": "128"}[metric]

    @staticmethod
    def can_be_compiled():
        return True

    @staticmethod
    def get_dummy_input_for_compile():
        return torch.zeros(1, 1, 32, 32, dtype=torch.uint8)


def register_feature_extractor_once(name: str, cls: type) -> None:
    """Register ``cls`` under ``name`` with torch-fidelity; a repeat registration is a no-op.

    torch-fidelity refuses duplicates; here the same class (or one with the same qualified name,
    e.g. after a module reload) registered again is accepted silently, while a different class
    under a taken name raises ValueError.
    """
    existing = FEATURE_EXTRACTORS_REGISTRY.get(name)
    if existing is None:
        torch_fidelity.register_feature_extractor(name, cls)
        return
    qualified = lambda c: f"{c.__module__}.{c.__qualname__}"  # noqa: E731
    if existing is not cls and qualified(existing) != qualified(cls):
        raise ValueError(f"feature extractor name {name!r} is already registered to {qualified(existing)}")


def register_extractors() -> None:
    """Make sure both extractors are in torch-fidelity's registry (idempotent)."""
    register_feature_extractor_once(INCEPTION, torch_fidelity.FeatureExtractorInceptionV3)
    register_feature_extractor_once(MNIST_CLASSIFIER, FeatureExtractorMnist)


def inception_cache_file() -> Path:
    """Where torch.hub keeps torch-fidelity's downloaded Inception weights."""
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(_fe_inception.URL_INCEPTION_V3)


def check_inception_available(weights_path: str | None = None) -> None:
    """Raise :class:`InceptionWeightsUnavailable` (one line) unless Inception weights can be had.

    With ``weights_path`` the file must exist. Without it, torch.hub's cached copy is used when
    present, else the download (torch-fidelity's default URL, via torch-fidelity's own
    ``load_state_dict_from_url``) is attempted now, so offline machines fail here with a message
    saying how to fix it rather than deep inside torch-fidelity.
    """
    if weights_path is not None:
        if not Path(weights_path).is_file():
            raise InceptionWeightsUnavailable(
                f"Inception weights file {str(weights_path)!r} not found: give weights_path = an existing local copy "
                f"of {os.path.basename(_fe_inception.URL_INCEPTION_V3)} "
                "(torch-fidelity's inception-v3-compat state dict)"
            )
        return
    cached = inception_cache_file()
    if cached.is_file():
        return
    try:
        _fe_inception.load_state_dict_from_url(_fe_inception.URL_INCEPTION_V3, progress=False)
    except Exception as err:  # any failure to fetch (offline, proxy, HTTP error) means the same to the user
        raise InceptionWeightsUnavailable(
            f"Inception weights unavailable: download of {_fe_inception.URL_INCEPTION_V3} failed "
            f"({type(err).__name__}) and no weights file was given; pass weights_path = a local copy of that file "
            f"or place it at {cached}"
        ) from None


def write_random_inception_weights(path: str, seed: int = 0) -> None:
    """Write a randomly initialised ``inception-v3-compat`` state dict to ``path`` (tests, smoke runs).

    torch-fidelity's constructor always loads weights; a subclass that ignores the loaded dict is
    built from an empty file, so the saved tensors are PyTorch's default initialisation.
    """

    class _Unloaded(torch_fidelity.FeatureExtractorInceptionV3):
        def load_state_dict(self, state_dict, strict=True, assign=False):
            return None

    atomic_torch_save({}, path)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        module = _Unloaded(INCEPTION, ["2048"], feature_extractor_weights_path=path)
    atomic_torch_save({k: v.detach().clone() for k, v in module.state_dict().items()}, path)


def _gray_to_rgb(images: torch.Tensor) -> torch.Tensor:
    """Repeat 1-channel images to 3 channels (Inception wants RGB); 3-channel images pass through."""
    if images.shape[1] == 1:
        return images.expand(-1, 3, -1, -1)
    if images.shape[1] != 3:
        raise ValueError(f"images channels = {images.shape[1]}: expected 1 or 3")
    return images


def _resolve_inception_weights(weights_path, cache_dir, **_options) -> tuple[str | None, str]:
    """Inception: the given file (id = its SHA256) or the default download (id = "download")."""
    check_inception_available(weights_path)
    if weights_path is None:
        return None, DOWNLOAD_WEIGHTS_ID
    return str(weights_path), sha256_file(weights_path)


def _resolve_mnist_weights(weights_path, cache_dir, mnist_raw_dir=DEFAULT_MNIST_RAW_DIR, device="auto", **_options):
    """MNIST classifier: the given file, else the one trained once and cached in ``cache_dir``."""
    if weights_path is None:
        weights_path, _, _ = load_or_train_mnist_classifier(cache_dir, raw_dir=mnist_raw_dir, device=device)
    elif not Path(weights_path).is_file():
        raise ValueError(f"weights_path = {str(weights_path)!r}: no MNIST classifier file there")
    return str(weights_path), sha256_file(weights_path)


@dataclass(frozen=True)
class ExtractorSpec:
    """How an extractor is used: its feature layer for FID/KID, its logits layer, its input adapter,
    its weights resolver ``(weights_path, cache_dir, **options) -> (path or None, weights_id)``."""

    feature_layer: str
    logits_layer: str
    adapt: Callable[[torch.Tensor], torch.Tensor]
    resolve_weights: Callable[..., tuple[str | None, str]]


EXTRACTORS = {
    INCEPTION: ExtractorSpec("2048", "logits_unbiased", _gray_to_rgb, _resolve_inception_weights),
    MNIST_CLASSIFIER: ExtractorSpec("128", "logits", lambda images: images, _resolve_mnist_weights),
}


def extractor_spec(name: str) -> ExtractorSpec:
    """The :class:`ExtractorSpec` of ``name``; ValueError naming the accepted extractors otherwise."""
    if name not in EXTRACTORS:
        raise ValueError(f"extractor = {name!r}: accepted values are {sorted(EXTRACTORS)}")
    return EXTRACTORS[name]


def build_extractor(name: str, weights_path: str | None, device: str | torch.device = "auto"):
    """Instantiate registered extractor ``name`` through torch-fidelity (features: FID layer, logits).

    ``weights_path`` is passed as torch-fidelity's ``feature_extractor_weights_path`` (None:
    Inception downloads; the MNIST extractor requires a file). The module is frozen, in eval mode,
    on ``device`` (``"auto"``: CUDA when present).
    """
    spec = extractor_spec(name)
    register_extractors()
    if name == INCEPTION:
        check_inception_available(weights_path)
    module = create_feature_extractor(
        name,
        [spec.feature_layer, spec.logits_layer],
        cuda=False,
        feature_extractor_weights_path=weights_path,
        verbose=False,
    )
    dev = device if isinstance(device, torch.device) else pick_device(device)
    return module.to(dev)


@torch.no_grad()
def extract_features(extractor, name: str, images_uint8: torch.Tensor, batch_size: int = 64) -> dict[str, torch.Tensor]:
    """Run ``extractor`` (registered as ``name``) over uint8 (N, C, H, W) images in batches.

    Each batch goes through the extractor's input adapter (grey -> RGB for Inception), to the
    extractor's device, and its feature tuple is turned into a dict; returns CPU float32 tensors
    concatenated over batches, one per requested feature.
    """
    if not torch.is_tensor(images_uint8) or images_uint8.dtype != torch.uint8 or images_uint8.dim() != 4:
        raise ValueError("images: expected a uint8 tensor (N, C, H, W)")
    if batch_size < 1:
        raise ValueError(f"batch_size = {batch_size}: must be >= 1")
    adapt = extractor_spec(name).adapt
    device = next(extractor.parameters()).device
    chunks: dict[str, list[torch.Tensor]] = {}
    for start in range(0, len(images_uint8), batch_size):
        batch = adapt(images_uint8[start : start + batch_size]).to(device)
        features = extractor.convert_features_tuple_to_dict(extractor(batch))
        for key, value in features.items():
            chunks.setdefault(key, []).append(value.float().cpu())
    return {key: torch.cat(values) for key, values in chunks.items()}


register_extractors()

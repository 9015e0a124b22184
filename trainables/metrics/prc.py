"""Improved precision and recall (Kynkaanniemi et al., NeurIPS 2019) through torch-fidelity.

FID is one number that cannot tell "sharp but few modes" from "diverse but blurry". Precision is
the fraction of generated samples inside the real manifold (the union of balls around each real
feature reaching its k-th nearest real neighbour); recall is the fraction of real samples inside
the generated manifold. Both come from torch-fidelity's ``prc_features_to_metric`` (k = 3, the
paper's and torch-fidelity's default) on:

- images: the extractor's features (Inception pool3 or the MNIST classifier's 128-d layer) of
  the generated images against the cached real feature rows;
- 2D mixtures: the points themselves (R^2 is its own feature space) against a fixed, seeded
  sample of the true mixture of the same size.
"""

from __future__ import annotations

import torch
from torch_fidelity.metric_prc import KEY_METRIC_PRECISION, KEY_METRIC_RECALL, prc_features_to_metric

NEIGHBORHOOD = 3  # k of the k-NN balls (Kynkaanniemi et al.; torch-fidelity's prc_neighborhood)
BATCH_SIZE = 2000  # rows per distance block: memory ~ BATCH_SIZE x N floats, not N x N

PRECISION, RECALL = "precision", "recall"  # measure keys (trainables.metric_names: eval/precision, eval/recall)


def precision_recall(fake, real, neighborhood: int = NEIGHBORHOOD) -> dict[str, float]:
    """``{"precision", "recall"}`` of ``fake`` features (N, D) against ``real`` features (M, D).

    Non-finite fake rows (a diverged generator) are outside every real ball: they count against
    precision and are left out of the generated manifold. Fewer than ``neighborhood + 1`` finite
    fake rows: both are 0.
    """
    fake = torch.as_tensor(fake).detach().to("cpu", torch.float32)
    real = torch.as_tensor(real).detach().to("cpu", torch.float32)
    if fake.dim() != 2 or real.dim() != 2 or fake.shape[1] != real.shape[1]:
        raise ValueError(f"fake/real shapes = {tuple(fake.shape)}/{tuple(real.shape)}: expected (N, D) and (M, D)")
    if not (isinstance(neighborhood, int) and 1 <= neighborhood < len(real)):
        raise ValueError(f"neighborhood = {neighborhood!r}: expected an int in [1, {len(real) - 1}]")
    finite = torch.isfinite(fake).all(dim=1)
    kept = fake[finite]
    if len(kept) <= neighborhood:
        return {PRECISION: 0.0, RECALL: 0.0}
    out = prc_features_to_metric(kept, real, prc_neighborhood=neighborhood, prc_batch_size=BATCH_SIZE,
                                 save_cpu_ram=True, verbose=False)
    share = len(kept) / len(fake)
    return {PRECISION: float(out[KEY_METRIC_PRECISION]) * share, RECALL: float(out[KEY_METRIC_RECALL])}

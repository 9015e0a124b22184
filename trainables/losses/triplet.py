"""TripletGAN losses (spec section 1): triplets (anchor y_i, positive y_j, negative x_i), i != j."""

import torch

from ._checks import check_choice, check_embeddings, check_number, check_paired
from .distances import DISTANCES
from .offdiag import mean_off_diagonal


def _triplet_distances(e_real, e_fake, distance):
    """Return ``(d(x_i, y_i)) (n,)`` and ``(d(y_i, y_j)) (n, n)``."""
    check_embeddings("e_real", e_real, min_n=2)
    check_embeddings("e_fake", e_fake, min_n=2)
    check_paired("e_real", e_real, "e_fake", e_fake)
    check_choice("distance", distance, DISTANCES)
    paired, pairwise = DISTANCES[distance]
    d_neg = paired(e_real, e_fake)  # d(x_i, y_i): anchor y_i vs negative x_i
    d_pos = pairwise(e_fake, e_fake)  # d(y_i, y_j): anchor y_i vs positive y_j
    return d_neg, d_pos


def triplet_d_loss(e_real: torch.Tensor, e_fake: torch.Tensor, margin: float,
                   distance: str = "arc") -> torch.Tensor:
    """Critic loss ``L_D = mean_{i != j} relu( c - d(x_i, y_i) + d(y_i, y_j) )``.

    ``e_real`` = critic embeddings of reals ``x`` ``(n, K)``, ``e_fake`` = of fakes ``y`` ``(n, K)``
    (same n: x_i is the negative of anchor y_i). ``margin`` = c >= 0. ``distance``: ``"arc"``
    (default, the paper's; ``arccos(<a, b>)`` with the cosine clamped to ``[-1+eps, 1-eps]``; inputs on the unit
    sphere) or ``"l2"`` (``||a - b||``). Mean over the n(n-1) ordered pairs i != j.
    """
    c = check_number("margin", margin, low=0.0)
    d_neg, d_pos = _triplet_distances(e_real, e_fake, distance)
    hinge = torch.relu(c - d_neg[:, None] + d_pos)  # [i, j]: anchor i, positive j
    return mean_off_diagonal(hinge)


def triplet_g_loss(e_real: torch.Tensor, e_fake: torch.Tensor,
                   distance: str = "arc") -> torch.Tensor:
    """Generator loss (unclipped) ``L_G = mean_{i != j} ( d(x_i, y_i) - d(y_i, y_j) )``.

    Same inputs as :func:`triplet_d_loss`. The ``- d(y_i, y_j)`` term rewards spreading the
    fakes apart; if all fakes coincide it is 0.
    """
    d_neg, d_pos = _triplet_distances(e_real, e_fake, distance)
    return mean_off_diagonal(d_neg[:, None] - d_pos)

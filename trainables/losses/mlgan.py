"""MLGAN losses (spec section 2, mlgan.txt eqs 7-12): means, or the paper's sums over the batch."""

import torch

from ._checks import check_choice, check_embeddings, check_number, check_paired
from .distances import pairwise_sq_dists
from .offdiag import mean_off_diagonal



def _check(e_real, e_fake):
    check_embeddings("e_real", e_real, min_n=2)
    check_embeddings("e_fake", e_fake, min_n=2)
    check_paired("e_real", e_real, "e_fake", e_fake)


def _inter(e_real, e_fake):
    """``L_inter = mean_i ||e(x_i) - e(y_i)||_1``."""
    return (e_real - e_fake).abs().sum(dim=1).mean()


REDUCTIONS = ("mean", "sum")


def mlgan_d_loss(e_real: torch.Tensor, e_fake: torch.Tensor, lam: float,
                 beta: float = 0.0, reduction: str = "mean") -> torch.Tensor:
    """Discriminator loss ``L_D = L_intra - lam * L_inter + beta * L_center``.

    ``L_intra = mean_{i != j} ||e(x_i) - e(x_j)||^2 + mean_{i != j} ||e(y_i) - e(y_j)||^2``
    (squared L2), ``L_inter = mean_i ||e(x_i) - e(y_i)||_1`` (L1, paired by index),
    ``L_center = mean_i ||e(x_i) - mu_data||^2 + mean_i ||e(y_i) - mu_g||^2`` with
    ``mu_data = (1/K, ..., 1/K)`` and ``mu_g = 0``. ``beta`` (center-penalty weight, default
    0 = no center term) must be >= 0.

    ``reduction="sum"`` is the paper's eqs 7-12 as written, divided by the batch size m (Adam does
    not see a constant factor): L_intra sums m (m - 1) pairs but L_inter and L_center m terms, so
    the paper weighs L_intra (m - 1) times more, relative to the others, than the means do.
    """
    _check(e_real, e_fake)
    lam = check_number("lam", lam)
    beta = check_number("beta", beta, low=0.0)
    check_choice("reduction", reduction, REDUCTIONS)
    intra = mean_off_diagonal(pairwise_sq_dists(e_real, e_real)) + mean_off_diagonal(
        pairwise_sq_dists(e_fake, e_fake))
    if reduction == "sum":
        intra = (e_real.shape[0] - 1) * intra
    loss = intra - lam * _inter(e_real, e_fake)
    if beta != 0.0:
        k = e_real.shape[1]
        center = (e_real - 1.0 / k).pow(2).sum(dim=1).mean() + e_fake.pow(2).sum(dim=1).mean()
        loss = loss + beta * center
    return loss


def mlgan_g_loss(e_real: torch.Tensor, e_fake: torch.Tensor) -> torch.Tensor:
    """Generator loss ``L_G = L_inter = mean_i ||e(x_i) - e(y_i)||_1``."""
    check_embeddings("e_real", e_real)
    check_embeddings("e_fake", e_fake)
    check_paired("e_real", e_real, "e_fake", e_fake)
    return _inter(e_real, e_fake)

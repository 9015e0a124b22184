"""GN-GAN losses (spec section 4, gngan.txt eqs 1-13): neighbour embedding + gradient matching.

The gradient penalty of eqs 7-8 lives in :mod:`trainables.losses.penalties`; the lead adds
``lambda_p * gradient_penalty(...)`` to :func:`gngan_d_loss`.
"""

import torch
import torch.nn.functional as F

from trainables.precision import full_precision

from ._checks import check_batch, check_choice, check_number, check_paired, check_scores
from .distances import pairwise_sq_dists
from .offdiag import diagonal_mask


def _symmetric_affinities(w: torch.Tensor) -> torch.Tensor:
    """Joint affinities ``p_ij = (p_{j|i} + p_{i|j}) / (2m)`` of a batch ``w (m, ...)``.

    ``p_{j|i} = k_ij / sum_{k != i} k_ik`` with ``k_ij = (1 + ||w_i - w_j||^2 / (2 s^2))^-1``,
    ``s^2 = Var({||w_i - w_j|| : i < j})`` (population variance, detached). If every pairwise
    distance is equal the variance is 0 and any width gives the same affinities; we use 1.
    The diagonal is 0.
    """
    m = w.shape[0]
    d2 = pairwise_sq_dists(w, w)
    with torch.no_grad():
        iu = torch.triu_indices(m, m, offset=1, device=w.device)
        var = d2[iu[0], iu[1]].sqrt().var(unbiased=False)
        var = torch.where(var > 0, var, torch.ones_like(var))
    kernel = (1.0 / (1.0 + d2 / (2.0 * var))).masked_fill(diagonal_mask(m, w.device), 0.0)
    cond = kernel / kernel.sum(dim=1, keepdim=True)  # row i holds p_{j|i}
    return (cond + cond.transpose(0, 1)) / (2.0 * m)


@full_precision
def neighbor_embedding_loss(z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Inverse t-SNE ``V_R = KL(P || Q) = sum_{i != j} p_ij log(p_ij / q_ij)``.

    ``z (m, ...)``: latents (``{E(x)} U {z}``), ``x (m, ...)``: their images (``{G(E(x))} U
    {G(z)}``); non-batch dims are flattened, m >= 2. ``P`` is built on the latents and ``Q`` on
    the images by :func:`_symmetric_affinities` (student-t-like kernel with width = population
    variance of the pairwise distances, detached). ``P`` is a target and is detached, so the
    gradient flows only into ``x``. Scale-invariant: images = c * latents gives 0.
    """
    check_batch("z", z, min_n=2)
    check_batch("x", x, min_n=2)
    if z.shape[0] != x.shape[0]:
        raise ValueError(f"x must have the same batch size as z: got {x.shape[0]} vs {z.shape[0]}")
    p = _symmetric_affinities(z.detach())
    q = _symmetric_affinities(x)
    m = z.shape[0]
    diagonal = diagonal_mask(m, x.device)  # p_ii = q_ii = 0 add nothing; q := 1 there keeps d/dq = p/q finite
    p, q = p.masked_fill(diagonal, 0.0), q.masked_fill(diagonal, 1.0)
    return (torch.special.xlogy(p, p) - torch.special.xlogy(p, q)).sum()


def gngan_ae_loss(x: torch.Tensor, x_rec: torch.Tensor, latents: torch.Tensor,
                  images: torch.Tensor, lambda_r: float) -> torch.Tensor:
    """Auto-encoder loss ``V_AE = mean_i ||x_i - G(E(x_i))||^2 + lambda_r * V_R``.

    The squared L2 norm is summed over all non-batch elements of ``x``/``x_rec`` ``(n, ...)``;
    ``V_R = neighbor_embedding_loss(latents, images)``. ``lambda_r >= 0``.
    """
    check_batch("x", x)
    check_batch("x_rec", x_rec)
    check_paired("x", x, "x_rec", x_rec)
    lambda_r = check_number("lambda_r", lambda_r, low=0.0)
    rec = (x - x_rec).pow(2).reshape(x.shape[0], -1).sum(dim=1).mean()
    return rec + lambda_r * neighbor_embedding_loss(latents, images)


def _log_terms(logit_real, logit_recon, logit_fake):
    """Eq 7 terms: ``-log s(x) = softplus(-l)``, ``-log(1 - s(G(z))) = softplus(l)``."""
    return F.softplus(-logit_real), F.softplus(-logit_recon), F.softplus(logit_fake)


def _hinge_terms(logit_real, logit_recon, logit_fake):
    """Eq 8 terms: ``relu(1 - D(x))``, ``relu(1 - D(G(E(x))))``, ``relu(1 + D(G(z)))``."""
    return torch.relu(1.0 - logit_real), torch.relu(1.0 - logit_recon), torch.relu(1.0 + logit_fake)


# kind -> per-sample terms (real, reconstruction, fake) of the discriminator loss.
_GNGAN_D_TERMS = {"log": _log_terms, "hinge": _hinge_terms}


def gngan_d_loss(logit_real: torch.Tensor, logit_recon: torch.Tensor, logit_fake: torch.Tensor,
                 alpha: float = 0.05, kind: str = "log") -> torch.Tensor:
    """GN-GAN discriminator loss without the gradient penalty (add ``lambda_p * V_P``).

    ``kind="log"`` (eq 7, negated to be minimised): ``L_D = -[(1-alpha) mean log s(x) + alpha
    mean log s(G(E(x))) + mean log(1 - s(G(z)))]`` = ``(1-alpha) mean softplus(-l_x) + alpha
    mean softplus(-l_rec) + mean softplus(l_fake)``.
    ``kind="hinge"`` (eq 8): ``(1-alpha) mean relu(1 - D(x)) + alpha mean relu(1 - D(G(E(x))))
    + mean relu(1 + D(G(z)))``. Logits ``(n,)`` or ``(n, 1)``; the three batches may differ in
    size. ``alpha`` in [0, 1] (default 0.05: the paper's weight of reconstructions as reals).
    """
    check_choice("kind", kind, _GNGAN_D_TERMS)
    alpha = check_number("alpha", alpha, low=0.0, high=1.0)
    real, recon, fake = _GNGAN_D_TERMS[kind](check_scores("logit_real", logit_real),
                                             check_scores("logit_recon", logit_recon),
                                             check_scores("logit_fake", logit_fake))
    return (1.0 - alpha) * real.mean() + alpha * recon.mean() + fake.mean()


@full_precision
def _scores_and_grads(score_fn, x, create_graph):
    """Per-sample scores ``(n,)`` and input gradients ``(n, ...)`` of ``score_fn`` at ``x``."""
    scores = check_scores("score_fn(batch)", score_fn(x))
    if scores.shape[0] != x.shape[0]:
        raise ValueError(
            f"score_fn must return one score per sample: got {scores.shape[0]} for n={x.shape[0]}")
    (grads,) = torch.autograd.grad(scores.sum(), x, create_graph=create_graph)
    return scores, grads


def gngan_g_loss(score_fn, real: torch.Tensor, fake: torch.Tensor, lambda_m1: float,
                 lambda_m2: float) -> torch.Tensor:
    """Gradient-matching generator loss (eq 13)::

        L_G = | mean D(x) - mean D(G(z)) |
              + lambda_m1 * ( mean ||grad D(x)|| - mean ||grad D(G(z))|| )^2
              + lambda_m2 * ( mean |grad D(x)^T x| - mean |grad D(G(z))^T G(z)| )^2

    ``score_fn`` maps a batch ``(n, ...)`` to per-sample scores ``(n,)`` or ``(n, 1)`` (the lead
    passes ``sigmoid(logit)`` for the log version, the raw logit for hinge); it must treat
    samples independently (no BatchNorm in training mode), since ``grad D(x_i)`` is taken as the
    gradient of ``sum_i D(x_i)``. Gradients are w.r.t. the inputs, norms and inner products over
    all non-batch elements. Fake side: ``create_graph=True`` so G receives second-order
    gradients through ``fake`` (a leaf ``fake`` that does not require grad is differentiated as
    a detached copy). Real side: scores and gradients are detached constants.
    """
    check_batch("real", real)
    check_batch("fake", fake)
    if real.shape[1:] != fake.shape[1:]:
        raise ValueError(
            f"fake must have the same sample shape as real: got {tuple(fake.shape)} vs {tuple(real.shape)}")
    lambda_m1 = check_number("lambda_m1", lambda_m1, low=0.0)
    lambda_m2 = check_number("lambda_m2", lambda_m2, low=0.0)

    real_in = real.detach().requires_grad_(True)
    s_real, g_real = _scores_and_grads(score_fn, real_in, create_graph=False)
    s_real, g_real = s_real.detach(), g_real.detach()
    fake_in = fake if fake.requires_grad else fake.detach().requires_grad_(True)
    s_fake, g_fake = _scores_and_grads(score_fn, fake_in, create_graph=True)

    def flat(t):
        return t.reshape(t.shape[0], -1)

    norm_real = torch.linalg.vector_norm(flat(g_real), dim=1).mean()
    norm_fake = torch.linalg.vector_norm(flat(g_fake), dim=1).mean()
    dot_real = (flat(g_real) * flat(real_in.detach())).sum(dim=1).abs().mean()
    dot_fake = (flat(g_fake) * flat(fake_in)).sum(dim=1).abs().mean()
    return ((s_real.mean() - s_fake.mean()).abs()
            + lambda_m1 * (norm_real - norm_fake).pow(2)
            + lambda_m2 * (dot_real - dot_fake).pow(2))

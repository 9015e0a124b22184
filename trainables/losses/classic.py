"""Classic GAN baselines (spec section 6) on per-sample discriminator outputs ``(n,)``/``(n, 1)``.

All are means over the batch; the WGAN critic loss here has no gradient penalty (add
``10 * gradient_penalty(...)`` for WGAN-GP).
"""

import torch
import torch.nn.functional as F

from ._checks import check_scores


def nsgan_d_loss(d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    """Non-saturating GAN critic: ``L_D = mean softplus(-D(x)) + mean softplus(D(G(z)))`` (logits)."""
    d_real, d_fake = check_scores("d_real", d_real), check_scores("d_fake", d_fake)
    return F.softplus(-d_real).mean() + F.softplus(d_fake).mean()


def nsgan_g_loss(d_fake: torch.Tensor) -> torch.Tensor:
    """Non-saturating GAN generator: ``L_G = mean softplus(-D(G(z)))`` (logits)."""
    return F.softplus(-check_scores("d_fake", d_fake)).mean()


def hinge_d_loss(d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    """Hinge critic: ``L_D = mean relu(1 - D(x)) + mean relu(1 + D(G(z)))``."""
    d_real, d_fake = check_scores("d_real", d_real), check_scores("d_fake", d_fake)
    return torch.relu(1.0 - d_real).mean() + torch.relu(1.0 + d_fake).mean()


def hinge_g_loss(d_fake: torch.Tensor) -> torch.Tensor:
    """Hinge generator: ``L_G = -mean D(G(z))``."""
    return -check_scores("d_fake", d_fake).mean()


def wgan_d_loss(d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    """WGAN critic without GP: ``L_D = mean D(G(z)) - mean D(x)``."""
    d_real, d_fake = check_scores("d_real", d_real), check_scores("d_fake", d_fake)
    return d_fake.mean() - d_real.mean()


def wgan_g_loss(d_fake: torch.Tensor) -> torch.Tensor:
    """WGAN generator: ``L_G = -mean D(G(z))``."""
    return -check_scores("d_fake", d_fake).mean()

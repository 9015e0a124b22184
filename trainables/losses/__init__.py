"""Pure loss functions of every GAN in the spec (``../shared/spec/gans.md``).

Every function returns a scalar tensor, is differentiable and device-agnostic. Embeddings are
``(n, K)`` tensors; classic discriminator outputs are ``(n,)`` or ``(n, 1)``. Every loss is
minimised by the network it trains.
"""

from .classic import (hinge_d_loss, hinge_g_loss, nsgan_d_loss, nsgan_g_loss, wgan_d_loss,
                      wgan_g_loss)
from .distances import (DISTANCES, paired_arc, paired_l2, pairwise_arc, pairwise_l2,
                        pairwise_sq_dists)
from .gngan import gngan_ae_loss, gngan_d_loss, gngan_g_loss, neighbor_embedding_loss
from .kernels import (RBF_MIX_SIGMAS, RQ_MIX_ALPHAS, gaussian_kernel, rational_quadratic_kernel,
                      rbf_mix_kernel, rq_mix_kernel)
from .mbgan import mbgan_d_loss, mbgan_g_loss, mbgan_margin
from .mlgan import REDUCTIONS as MLGAN_REDUCTIONS, mlgan_d_loss, mlgan_g_loss
from .mmd import (mmd2, mmd_d_loss, mmd_g_loss, mmd_rbf_d_loss, mmd_rbf_g_loss, mmd_rq_d_loss,
                  mmd_rq_g_loss)
from .penalties import gradient_penalty
from .triplet import triplet_d_loss, triplet_g_loss

__all__ = [
    "DISTANCES", "RBF_MIX_SIGMAS", "RQ_MIX_ALPHAS",
    "gaussian_kernel", "gngan_ae_loss", "gngan_d_loss", "gngan_g_loss", "gradient_penalty",
    "hinge_d_loss", "hinge_g_loss", "mbgan_d_loss", "mbgan_g_loss", "mbgan_margin",
    "MLGAN_REDUCTIONS", "mlgan_d_loss", "mlgan_g_loss", "mmd2", "mmd_d_loss", "mmd_g_loss", "mmd_rbf_d_loss",
    "mmd_rbf_g_loss", "mmd_rq_d_loss", "mmd_rq_g_loss", "neighbor_embedding_loss",
    "nsgan_d_loss", "nsgan_g_loss", "paired_arc", "paired_l2", "pairwise_arc", "pairwise_l2",
    "pairwise_sq_dists", "rational_quadratic_kernel", "rbf_mix_kernel", "rq_mix_kernel",
    "triplet_d_loss", "triplet_g_loss", "wgan_d_loss", "wgan_g_loss",
]

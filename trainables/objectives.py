"""GAN objectives as small objects holding their hyperparameters (NVlabs EDM style).

Each objective is a frozen dataclass whose fields are the GAN's hyperparameters; it validates
them on construction (one-line :class:`~trainables.config.ConfigError` naming ``hparams.<field>``)
and turns networks + fresh batches into the scalar losses of ``trainables.losses``:

- ``d_loss(nets, draw)``: the discriminator/critic loss of one D step;
- ``g_loss(nets, draw)``: the generator loss of one G step;
- ``ae_loss(nets, draw)``: the auto-encoder loss (only when ``needs_encoder``);
- ``after_d_step(nets)``: anything done after D's optimiser step (MLGAN weight clipping).

``nets`` maps "G", "D" (and "E") to modules; ``draw.real()`` returns a fresh real batch and
``draw.z(n)`` fresh latent codes. Fakes used in a D step are detached from G.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch

from trainables import losses as L
from trainables.config import ConfigError


def _require(cond: bool, field: str, value, accepted: str) -> None:
    if not cond:
        raise ConfigError(f"hparams.{field} = {value!r}: {accepted}")


def _embed_dim(value: int) -> None:
    _require(isinstance(value, int) and value >= 1, "embed_dim", value, "must be an integer >= 1")


def _fakes(nets, draw, n: int | None = None, detach: bool = True) -> torch.Tensor:
    z = draw.z(n if n is not None else draw.batch_size)
    fake = nets["G"](z)
    return fake.detach() if detach else fake


@dataclass(frozen=True)
class Objective:
    """Base class: structure flags shared by all objectives."""

    embed_dim: int = 1  # width K of D's output (1: a scalar score)

    normalize_embedding: ClassVar[bool] = False  # project D's output onto the unit sphere
    needs_encoder: ClassVar[bool] = False  # GN-GAN: an encoder E and an auto-encoder step
    variants: ClassVar[tuple[str, ...]] = ()  # accepted values of ``variant`` (if any)

    def __post_init__(self) -> None:
        _embed_dim(self.embed_dim)
        variant = getattr(self, "variant", None)
        if self.variants:
            _require(variant in self.variants, "variant", variant,
                     f"accepted values are {', '.join(self.variants)}")

    def ae_loss(self, nets, draw) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} has no auto-encoder step")

    def after_d_step(self, nets) -> None:
        """Hook run after each D optimiser step (default: nothing)."""


# --- Section 1: TripletGAN ------------------------------------------------------------------
@dataclass(frozen=True)
class TripletGAN(Objective):
    """Critic on the sphere S^{K-1}; triplets (y_i, y_j, x_i), i != j (spec section 1)."""

    margin: float = 0.5  # c in L_D = mean relu(c - d(x_i, y_i) + d(y_i, y_j))
    distance: str = "arc"  # arc (arccos, the paper's) | l2
    embed_dim: int = 16  # K; 16 toy/MNIST/CelebA, 64 CIFAR-10, 128 STL-10

    normalize_embedding: ClassVar[bool] = True

    def __post_init__(self) -> None:
        super().__post_init__()
        _require(self.margin >= 0, "margin", self.margin, "must be >= 0")
        _require(self.distance in ("arc", "l2"), "distance", self.distance, "accepted values are arc, l2")

    def d_loss(self, nets, draw):
        x, y = draw.real(), _fakes(nets, draw)
        return L.triplet_d_loss(nets["D"](x), nets["D"](y), self.margin, distance=self.distance)

    def g_loss(self, nets, draw):
        x, y = draw.real(), _fakes(nets, draw, detach=False)
        return L.triplet_g_loss(nets["D"](x), nets["D"](y), distance=self.distance)


# --- Section 2: MLGAN -----------------------------------------------------------------------
@dataclass(frozen=True)
class MLGAN(Objective):
    """L_D = L_intra - lam L_inter + beta L_center, L_G = L_inter (spec section 2).

    Variants: ``vanilla``; ``clip`` (D's weights clamped to [-clip_value, clip_value] after every
    D step); ``center`` (the center penalty, beta > 0). ``beta`` only exists for ``center``.
    The paper gives no optimiser settings; we use Adam(2e-4, 0.5, 0.999), n_critic 1.
    """

    variant: str = "vanilla"  # vanilla | clip | center
    lam: float = 0.5  # weight of the inter-class L1 term (1 for center)
    beta: float = 0.0  # center-penalty weight (center variant only; paper: 10 or 20)
    clip_value: float = 0.01  # clip variant: weight box of D
    embed_dim: int = 64  # K; 64 vanilla/clip, 5 center

    variants: ClassVar[tuple[str, ...]] = ("vanilla", "clip", "center")

    def __post_init__(self) -> None:
        super().__post_init__()
        _require(self.lam >= 0, "lam", self.lam, "must be >= 0")
        _require(self.beta >= 0, "beta", self.beta, "must be >= 0")
        if self.variant != "center":
            _require(self.beta == 0, "beta", self.beta, "only the 'center' variant has a center penalty; use 0")
        _require(self.clip_value > 0, "clip_value", self.clip_value, "must be > 0")

    def d_loss(self, nets, draw):
        x, y = draw.real(), _fakes(nets, draw)
        return L.mlgan_d_loss(nets["D"](x), nets["D"](y), self.lam, beta=self.beta)

    def g_loss(self, nets, draw):
        x, y = draw.real(), _fakes(nets, draw, detach=False)
        return L.mlgan_g_loss(nets["D"](x), nets["D"](y))

    def after_d_step(self, nets) -> None:
        if self.variant == "clip":
            with torch.no_grad():
                for p in nets["D"].parameters():
                    p.clamp_(-self.clip_value, self.clip_value)


# --- Section 3: MBGAN -----------------------------------------------------------------------
@dataclass(frozen=True)
class MBGAN(Objective):
    """Data-dependent margin h = alpha * mean|x_j - G(z)| (detached) (spec section 3).

    A D step draws two independent real batches x_i, x_j; a G step draws one (x_j).
    """

    alpha: float = 20.0  # margin scale; paper: {0.2, 2} collapse, {20, 200} stable
    embed_dim: int = 500  # K; paper: {5, 50} collapse, {500, 5000} fine

    def __post_init__(self) -> None:
        super().__post_init__()
        _require(self.alpha > 0, "alpha", self.alpha, "must be > 0")

    def d_loss(self, nets, draw):
        x_i, x_j, fake = draw.real(), draw.real(), _fakes(nets, draw)
        D = nets["D"]
        return L.mbgan_d_loss(D(x_i), D(x_j), D(fake), x_j, fake, self.alpha)

    def g_loss(self, nets, draw):
        x_j, fake = draw.real(), _fakes(nets, draw, detach=False)
        return L.mbgan_g_loss(nets["D"](x_j), nets["D"](fake))


# --- Section 4: GN-GAN ----------------------------------------------------------------------
@dataclass(frozen=True)
class GNGAN(Objective):
    """Neighbour embedding (AE step) + log/hinge D with gradient penalty + gradient matching G.

    The gradient penalty is taken on D's raw output (the logit) in both versions; the spec
    leaves its score open and this is the WGAN-GP convention. Gradient matching (eq. 13) uses the
    paper's score: sigmoid(logit) for ``log``, the raw logit for ``hinge``.
    """

    variant: str = "log"  # log (eq. 7) | hinge (eq. 8)
    alpha: float = 0.05  # weight of reconstructions G(E(x)) among the "real" side of D
    lambda_r: float = 1.0  # neighbour-embedding weight in the auto-encoder loss
    lambda_p: float = 1.0  # gradient-penalty weight (toy: 0.1)
    lambda_m1: float = 1.0  # gradient-norm matching weight (toy: 0.1)
    lambda_m2: float = 1.0  # gradient-projection matching weight (toy: 0.1)
    embed_dim: int = 1  # D outputs one logit

    needs_encoder: ClassVar[bool] = True
    variants: ClassVar[tuple[str, ...]] = ("log", "hinge")

    def __post_init__(self) -> None:
        super().__post_init__()
        _require(0 <= self.alpha < 1, "alpha", self.alpha, "must be in [0, 1)")
        for name in ("lambda_r", "lambda_p", "lambda_m1", "lambda_m2"):
            _require(getattr(self, name) >= 0, name, getattr(self, name), "must be >= 0")
        _require(self.embed_dim == 1, "embed_dim", self.embed_dim, "GN-GAN's D outputs one logit: use 1")

    def _logit(self, nets):
        return lambda x: nets["D"](x).reshape(-1)

    def ae_loss(self, nets, draw):
        x = draw.real()
        latent = nets["E"](x)
        z = draw.z(x.shape[0])
        recon = nets["G"](latent)
        images = torch.cat([recon, nets["G"](z)])
        return L.gngan_ae_loss(x, recon, torch.cat([latent, z]), images, self.lambda_r)

    def d_loss(self, nets, draw):
        x = draw.real()
        with torch.no_grad():
            recon = nets["G"](nets["E"](x))
        fake = _fakes(nets, draw)
        logit = self._logit(nets)
        adv = L.gngan_d_loss(logit(x), logit(recon), logit(fake), alpha=self.alpha, kind=self.variant)
        return adv + self.lambda_p * L.gradient_penalty(logit, x, fake)

    def g_loss(self, nets, draw):
        x, fake = draw.real(), _fakes(nets, draw, detach=False)
        logit = self._logit(nets)
        score = (lambda v: torch.sigmoid(logit(v))) if self.variant == "log" else logit
        return L.gngan_g_loss(score, x, fake, self.lambda_m1, self.lambda_m2)


# --- Section 5: repulsive MMD-GAN and its MMD baselines ----------------------------------
@dataclass(frozen=True)
class MMDRepulsive(Objective):
    """L_D = lam E_xx - (lam - 1) E_xy - E_yy, optionally with the bounded RBF kernel; L_G = MMD^2.

    lam = 1 is the paper's MMD-rep (eq. 5), lam = -1 the attractive MMD-rbf with one Gaussian.
    ``b_l``/``b_u`` only exist when ``bounded`` (MMD-rep-b, the default).
    """

    lam: float = 1.0  # repulsion weight; the paper sweeps {-1, -0.5, 0, 0.5, 1, 2}
    sigma: float = 1.0  # Gaussian kernel bandwidth
    bounded: bool = True  # RBF-B kernel in the D loss (MMD-rep-b)
    b_l: float = 0.25  # lower bound on squared distances (bounded only)
    b_u: float = 4.0  # upper bound on squared distances (bounded only)
    embed_dim: int = 16  # K

    def __post_init__(self) -> None:
        super().__post_init__()
        _require(math.isfinite(self.lam), "lam", self.lam, "must be a finite number")
        _require(self.sigma > 0, "sigma", self.sigma, "must be > 0")
        _require(self.b_l > 0, "b_l", self.b_l, "must be > 0")
        _require(self.b_l < self.b_u, "b_l", self.b_l, f"must be < b_u ({self.b_u})")

    @property
    def bounds(self):
        return (self.b_l, self.b_u) if self.bounded else None

    def d_loss(self, nets, draw):
        x, y = draw.real(), _fakes(nets, draw)
        return L.mmd_d_loss(nets["D"](x), nets["D"](y), self.lam, sigma=self.sigma, bounds=self.bounds)

    def g_loss(self, nets, draw):
        x, y = draw.real(), _fakes(nets, draw, detach=False)
        return L.mmd_g_loss(nets["D"](x), nets["D"](y), sigma=self.sigma)


@dataclass(frozen=True)
class FunctionalGAN(Objective):
    """A GAN whose losses are pure functions of D's outputs on one real and one fake batch:
    ``d_fn(D(x), D(G(z)))`` and ``g_fn(D(x), D(G(z)))`` (or ``g_fn(D(G(z)))``)."""

    d_fn: ClassVar = None
    g_fn: ClassVar = None
    g_uses_real: ClassVar[bool] = True  # does the generator loss see D(x)?

    def outputs(self, nets, x):
        return nets["D"](x)

    def d_loss(self, nets, draw):
        x, y = draw.real(), _fakes(nets, draw)
        return type(self).d_fn(self.outputs(nets, x), self.outputs(nets, y))

    def g_loss(self, nets, draw):
        fake_out = self.outputs(nets, _fakes(nets, draw, detach=False))
        if not self.g_uses_real:
            return type(self).g_fn(fake_out)
        return type(self).g_fn(self.outputs(nets, draw.real()), fake_out)


@dataclass(frozen=True)
class MMDMixture(FunctionalGAN):
    """Attractive MMD-GAN with a kernel mixture: L_D = -MMD^2, L_G = MMD^2 (spec section 5)."""

    embed_dim: int = 16  # K


@dataclass(frozen=True)
class MMDRBF(MMDMixture):
    """MMD-rbf: sum of Gaussians, sigma in {1, sqrt2, 2, 2sqrt2, 4}."""

    d_fn: ClassVar = staticmethod(L.mmd_rbf_d_loss)
    g_fn: ClassVar = staticmethod(L.mmd_rbf_g_loss)


@dataclass(frozen=True)
class MMDRQ(MMDMixture):
    """MMD-rq: sum of rational quadratics, a in {0.2, 0.5, 1, 2, 5}."""

    d_fn: ClassVar = staticmethod(L.mmd_rq_d_loss)
    g_fn: ClassVar = staticmethod(L.mmd_rq_g_loss)


# --- Section 6: classic baselines on a scalar score ---------------------------------------
@dataclass(frozen=True)
class ScalarGAN(FunctionalGAN):
    """A GAN whose D outputs one score per sample; subclasses name the pure losses."""

    embed_dim: int = 1  # D outputs one score

    g_uses_real: ClassVar[bool] = False

    def __post_init__(self) -> None:
        super().__post_init__()
        _require(self.embed_dim == 1, "embed_dim", self.embed_dim, "this GAN's D outputs one score: use 1")

    def outputs(self, nets, x):
        return nets["D"](x).reshape(-1)


@dataclass(frozen=True)
class NonSaturating(ScalarGAN):
    """L_D = softplus(-D(x)) + softplus(D(G(z))), L_G = softplus(-D(G(z)))."""

    d_fn: ClassVar = staticmethod(L.nsgan_d_loss)
    g_fn: ClassVar = staticmethod(L.nsgan_g_loss)


@dataclass(frozen=True)
class Hinge(ScalarGAN):
    """L_D = relu(1 - D(x)) + relu(1 + D(G(z))), L_G = -D(G(z))."""

    d_fn: ClassVar = staticmethod(L.hinge_d_loss)
    g_fn: ClassVar = staticmethod(L.hinge_g_loss)


@dataclass(frozen=True)
class WGANGP(ScalarGAN):
    """L_D = D(G(z)) - D(x) + gp_weight (||grad D(xhat)|| - 1)^2, L_G = -D(G(z)); n_critic 5."""

    gp_weight: float = 10.0  # gradient-penalty weight

    d_fn: ClassVar = staticmethod(L.wgan_d_loss)
    g_fn: ClassVar = staticmethod(L.wgan_g_loss)

    def __post_init__(self) -> None:
        super().__post_init__()
        _require(self.gp_weight >= 0, "gp_weight", self.gp_weight, "must be >= 0")

    def d_loss(self, nets, draw):
        x, y = draw.real(), _fakes(nets, draw)
        critic = lambda v: self.outputs(nets, v)  # noqa: E731
        return L.wgan_d_loss(critic(x), critic(y)) + self.gp_weight * L.gradient_penalty(critic, x, y)

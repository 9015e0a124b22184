"""Run-config presets shared by several GANs (each GAN module holds its own ``presets`` mapping:
``"*"`` | ``"toy"`` | ``"images"`` | a data family -> a partial run config)."""

from __future__ import annotations

from trainables.schema import deep_merge

# MLGAN and MBGAN train MNIST with DCGAN nets (not TripletGAN's MLPs, the mnist family default):
# the 32x32 DCGAN-style convolutions of ``sndcgan`` (G with BatchNorm) with spectral norm off (MBGAN's and MLGAN's
# preset turns it on: trainables/gans/mbgan.py), at
# 1/8 of Table S1's channels (G 64-32-16-8, D 8-64). The MNIST DCGAN of the code MLGAN builds on
# (carpedm20/DCGAN-tensorflow: G 128-64 channels, D 11-74 plus FC 1024) is also far narrower than
# Table S1; 1/8 is the width the CPU benchmarks use (step times: benchmarks/results/loop_speed.md).
# ``net.kwargs.width = 1`` gives Table S1's channels.
DCGAN_MNIST = {"arch": "sndcgan", "sn": "none", "kwargs": {"width": 0.125}}

# Adam learning rates (D, G) of the metric-learning GANs on MNIST with the SN-DCGAN at width 1/8
# (the "mnist/sndcgan" preset of each GAN): these small conv nets learn far faster at 4e-4 .. 1e-3
# than at the 1e-4 .. 5e-4 the MLPs and the wider DCGANs use. Runs of 3,000 steps, batch 64, EMA
# 10 kimg: benchmarks/results/mnist_sndcgan_lr.md.
SNDCGAN_MNIST_LR = {
    "tripletgan": {"lr_d": 2e-3, "lr_g": 2e-3},
    "gngan": {"lr_d": 4e-4, "lr_g": 4e-4},
    "mlgan": {"lr_d": 8e-4, "lr_g": 8e-4},
    "mbgan": {"lr_d": 4e-4, "lr_g": 4e-4},
}

# Adam of the DCGAN-like image nets (Radford et al.): lr 2e-4, beta1 0.5, for D and G.
IMAGE_ADAM = {"optim": {"lr_d": 2e-4, "lr_g": 2e-4, "beta1_d": 0.5, "beta2_d": 0.999,
                        "beta1_g": 0.5, "beta2_g": 0.999}}


# The official repulsive MMD-GAN code (richardwth/MMD-GAN, my_test_cifar.py): every spectrally
# normalised layer of D is multiplied by act_k = 64 ** 0.125, so D's Lipschitz bound is 64 (8 layers).
MMD_SN_SCALE = 64 ** 0.125

# The MMD GANs' image setting (repulsive MMD-GAN, Table S1): DCGAN Adam, batch 64, SN with PIM,
# scaled by act_k as in the official code. act_k belongs to the official conv critic: the MNIST
# MLPs (TripletGAN's nets, benchmarks/results/mnist_class_balance.md) keep unscaled SN layers.
MMD_PRESETS = {"images": deep_merge(IMAGE_ADAM, {"data": {"batch_size": 64},
                                                 "net": {"sn": "pim", "sn_scale": MMD_SN_SCALE}}),
               "mnist": {"net": {"sn_scale": 1.0}}}

"""Every loss runs on float32 CPU tensors and, when CUDA is present, agrees with CPU on CUDA."""

import pytest
import torch

import trainables.losses as L


def _score(x):
    f = x.reshape(x.shape[0], -1)
    return torch.tanh(f.sum(dim=1)) + 0.1 * (f ** 2).sum(dim=1)


def _all_losses(device):
    gen = torch.Generator().manual_seed(0)

    def r(*shape):
        return torch.randn(*shape, generator=gen).to(device).requires_grad_(True)

    x, y = r(6, 4), r(6, 4)
    ux = (x / x.norm(dim=1, keepdim=True))
    uy = (y / y.norm(dim=1, keepdim=True))
    img_r, img_f = r(6, 1, 3, 3), r(6, 1, 3, 3)
    s_r, s_f = r(6), r(6, 1)
    u = torch.linspace(0, 1, 6, device=device)
    return {
        "triplet_d": L.triplet_d_loss(ux, uy, 0.5),
        "triplet_d_l2": L.triplet_d_loss(ux, uy, 0.5, distance="l2"),
        "triplet_g": L.triplet_g_loss(ux, uy),
        "mlgan_d": L.mlgan_d_loss(x, y, 1.0, beta=10.0),
        "mlgan_g": L.mlgan_g_loss(x, y),
        "mbgan_d": L.mbgan_d_loss(x, y, x.flip(0), img_r, img_f, 20.0),
        "mbgan_g": L.mbgan_g_loss(y, x),
        "mmd_d": L.mmd_d_loss(x, y, 0.5, bounds=(0.25, 4.0)),
        "mmd_d_att": L.mmd_d_loss(x, y, -1.0, bounds=(0.25, 4.0)),
        "mmd_g": L.mmd_g_loss(x, y),
        "mmd_rbf_d": L.mmd_rbf_d_loss(x, y),
        "mmd_rbf_g": L.mmd_rbf_g_loss(x, y),
        "mmd_rq_d": L.mmd_rq_d_loss(x, y),
        "mmd_rq_g": L.mmd_rq_g_loss(x, y),
        "ne": L.neighbor_embedding_loss(x, img_f),
        "ae": L.gngan_ae_loss(img_r, img_f, x, img_f, 1.0),
        "gngan_d_log": L.gngan_d_loss(s_r, s_f, s_r, kind="log"),
        "gngan_d_hinge": L.gngan_d_loss(s_r, s_f, s_r, kind="hinge"),
        "gngan_g": L.gngan_g_loss(_score, img_r, img_f, 1.0, 1.0),
        "gp": L.gradient_penalty(_score, img_r, img_f, u=u),
        "nsgan_d": L.nsgan_d_loss(s_r, s_f),
        "nsgan_g": L.nsgan_g_loss(s_f),
        "hinge_d": L.hinge_d_loss(s_r, s_f),
        "hinge_g": L.hinge_g_loss(s_f),
        "wgan_d": L.wgan_d_loss(s_r, s_f),
        "wgan_g": L.wgan_g_loss(s_f),
    }


def test_all_losses_are_float32_differentiable_scalars_on_cpu():
    out = _all_losses(torch.device("cpu"))
    for name, loss in out.items():
        assert loss.dim() == 0 and loss.dtype == torch.float32, name
        assert torch.isfinite(loss), name
        assert loss.requires_grad, name
        loss.backward(retain_graph=True)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_all_losses_agree_on_cuda():
    cpu, gpu = _all_losses(torch.device("cpu")), _all_losses(torch.device("cuda"))
    for name in cpu:
        assert gpu[name].device.type == "cuda", name
        assert torch.allclose(gpu[name].detach().cpu(), cpu[name].detach(), rtol=1e-4, atol=1e-5), name
        gpu[name].backward(retain_graph=True)
    # the default u of the gradient penalty is drawn on the input's device
    x = torch.randn(4, 3, device="cuda")
    assert L.gradient_penalty(_score, x, x.flip(0)).device.type == "cuda"

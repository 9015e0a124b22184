"""GN-GAN with a BatchNorm generator: reconstructions G(E(x)) do not move G's running statistics.

``G.eval()`` (every evaluation, ``study sample``) normalises by the running statistics, so they
must describe batches of G(z); the encoder's latents are free to drift away from the prior.
"""

import contextlib

import torch
import torch.nn as nn

import trainables.gans.gngan as gngan
from trainables.gans.gngan import frozen_batchnorm_statistics
from trainables.loop import GanRun


def _running(net):
    return [(m.running_mean.clone(), m.running_var.clone(), int(m.num_batches_tracked))
            for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


def test_frozen_statistics_keep_running_stats_and_still_normalise_by_the_batch():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(2, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 2), nn.BatchNorm1d(2))
    before = _running(net)
    x = 5 + 3 * torch.randn(64, 2)
    with frozen_batchnorm_statistics(net):
        inside = net(x)
    for (m0, v0, n0), (m1, v1, n1) in zip(before, _running(net)):
        assert torch.equal(m0, m1) and torch.equal(v0, v1) and n0 == n1
    assert [m.momentum for m in (net[1], net[4])] == [0.1, 0.1]  # restored
    assert torch.allclose(inside.mean(0), torch.zeros(2), atol=1e-5)  # batch statistics, not running ones
    assert torch.allclose(inside, net(x))  # same as an ordinary train-mode pass
    assert int(net[1].num_batches_tracked) == 1  # which does update them


def _gngan_bn_passes(monkeypatch, freeze: bool) -> int:
    if not freeze:
        monkeypatch.setattr(gngan, "frozen_batchnorm_statistics", lambda net: contextlib.nullcontext(net))
    run = GanRun({"gan": "gngan", "data": {"name": "grid25", "batch_size": 32}, "steps": 1, "seed": 0,
                  "net": {"kwargs": {"g_hidden": 16, "d_hidden": 8}}})
    with torch.no_grad():  # the encoder's latents far from z ~ N(0, I), as measured on grid25
        for p in run.nets["E"].parameters():
            p.add_(3.0)
    before = _running(run.nets["G"])
    run.objective.ae_loss(run.nets, run.draw)
    run.objective.d_loss(run.nets, run.draw)
    after = _running(run.nets["G"])
    assert all(torch.isfinite(a[0]).all() for a in after)
    return after[0][2] - before[0][2]


def test_gngan_auto_encoder_and_critic_steps_update_g_statistics_only_from_the_prior(monkeypatch):
    # ae_loss passes G once on z (V_R's images) and d_loss once (its fakes); each also decodes E(x)
    assert _gngan_bn_passes(monkeypatch, freeze=True) == 2
    assert _gngan_bn_passes(monkeypatch, freeze=False) == 4  # without the fix the reconstructions count too

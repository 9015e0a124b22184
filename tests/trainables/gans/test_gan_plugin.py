"""Adding a GAN is one file: a least-squares GAN (Mao et al., 2017) written in a temporary
package, registered through `gan_modules` / `gan_module` only, trains, validates, and runs a
2-trial study end to end through the `study` CLI without any other file of the project changing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from study.study_file import StudyError, parse_study
from trainables import registry
from trainables.config import resolve_config
from trainables.schema import ConfigError
from trainables.loop import GanRun

ROOT = Path(__file__).resolve().parents[3]
PACKAGE, MODULE = "plugin_gans_for_test", "plugin_gans_for_test.lsgan"
LSGAN = '''
"""Least-squares GAN (Mao et al., 2017), a = 0, b = c = 1."""
from dataclasses import dataclass
from typing import ClassVar

from trainables.gans.axes import log_float, suggest_optim
from trainables.gans.base import GanSpec, ScalarGAN, require


def lsgan_d_loss(d_real, d_fake):
    return 0.5 * ((d_real - 1) ** 2).mean() + 0.5 * (d_fake ** 2).mean()


def lsgan_g_loss(d_fake):
    return 0.5 * ((d_fake - 1) ** 2).mean()


@dataclass(frozen=True)
class LSGAN(ScalarGAN):
    scale: float = 1.0  # a toy hyperparameter: multiplies both losses

    d_fn: ClassVar = staticmethod(lambda r, f: lsgan_d_loss(r, f))
    g_fn: ClassVar = staticmethod(lambda f: lsgan_g_loss(f))

    def __post_init__(self):
        super().__post_init__()
        require(self.scale > 0, "scale", self.scale, "must be > 0")

    def d_loss(self, nets, draw):
        return self.scale * super().d_loss(nets, draw)

    def g_loss(self, nets, draw):
        return self.scale * super().g_loss(nets, draw)


def space(trial, family):
    return {**suggest_optim(trial, family), "hparams.scale": log_float(trial, "hparams.scale", (0.5, 2.0))}


GAN = GanSpec(name="lsgan", objective=LSGAN, description="Least-squares GAN", paper="(plugin)",
              metric_learning=False, space=space)
'''


@pytest.fixture()
def plugin(tmp_path, monkeypatch):
    """The plugin package on sys.path; the registry is restored afterwards."""
    pkg = tmp_path / "plugins" / PACKAGE
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "lsgan.py").write_text(textwrap.dedent(LSGAN))
    monkeypatch.syspath_prepend(str(tmp_path / "plugins"))
    before = dict(registry.GANS)
    yield tmp_path / "plugins"
    registry.GANS.clear()
    registry.GANS.update(before)
    registry.PLUGIN_MODULES.pop("lsgan", None)
    for name in [m for m in sys.modules if m.startswith(PACKAGE)]:
        del sys.modules[name]


def test_run_config_names_its_module_and_trains(plugin):
    with pytest.raises(ConfigError, match="unknown GAN"):
        resolve_config({"gan": "lsgan"})
    cfg = resolve_config({"gan": "lsgan", "gan_module": MODULE, "steps": 3, "device": "cpu",
                          "hparams": {"scale": 2.0}})
    assert cfg.gan_module == MODULE and cfg.hparams.scale == 2.0
    assert resolve_config(cfg.to_dict()) == cfg  # self-describing: the dump resolves again
    run = GanRun(cfg.to_dict())
    d_out = torch.tensor([0.5, 2.0])
    f_out = torch.tensor([0.0, -1.0])
    # loop reference of L_D = scale * (mean (D(x) - 1)^2 / 2 + mean D(G(z))^2 / 2)
    ref = 2.0 * (sum((d - 1) ** 2 for d in d_out) / 2 / 2 + sum(f ** 2 for f in f_out) / 2 / 2)
    d_fn = type(cfg.hparams).d_fn
    assert torch.isclose(2.0 * d_fn(d_out, f_out), ref)
    run.train(3)
    assert run.step == 3
    with pytest.raises(ConfigError, match=r"^hparams\.scale = -1"):
        resolve_config({"gan": "lsgan", "gan_module": MODULE, "hparams": {"scale": -1}})


def test_study_file_loads_gan_modules_first(plugin):
    study = parse_study({"name": "p", "gans": ["lsgan", "nsgan"], "gan_modules": [MODULE]})
    assert study.gans == ("lsgan", "nsgan") and study.gan_modules == (MODULE,)
    assert study.base_run("lsgan")["gan_module"] == MODULE
    assert "gan_module" not in study.base_run("nsgan")
    assert parse_study(study.to_dict()) == study
    for bad, match in [(["no_such_pkg.gan"], "cannot import 'no_such_pkg.gan'"),
                       (["json"], "'json' defines no GAN"), ("x", "expected a list")]:
        with pytest.raises(StudyError, match=f"^gan_modules: .*{match}") as err:
            parse_study({"name": "p", "gans": ["nsgan"], "gan_modules": bad})
        assert "\n" not in str(err.value)


@pytest.mark.slow
def test_two_trial_study_with_the_plugin_gan(plugin, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    (work / "p.toml").write_text(textwrap.dedent(f"""
        name = "plugin"
        gan_modules = ["{MODULE}"]
        gans = ["lsgan"]
        max_concurrent = 1
        [run]
        steps = 40
        [run.data]
        name = "ring8"
        [run.eval]
        every = 20
        num_samples = 300
        [search]
        samples_per_gan = 2
        [scheduler]
        type = "none"
        """))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(plugin)]), "RAY_DASHBOARD_ENABLED": "0"}
    cli = [sys.executable, "-m", "study.cli"]
    run = subprocess.run([*cli, "run", "p.toml"], cwd=work, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    board = json.loads((work / "studies" / "plugin" / "leaderboard.json").read_text())
    rows = board["rows"] if isinstance(board, dict) else board
    lsgan_rows = [r for r in rows if r.get("gan") == "lsgan"]
    assert len(lsgan_rows) == 1 and lsgan_rows[0]["trials"] == 2, lsgan_rows
    sample = subprocess.run([*cli, "sample", "--best", "studies/plugin", "-n", "16", "-o", "s.npz"],
                            cwd=work, env=env, capture_output=True, text=True, timeout=300)
    assert sample.returncode == 0, sample.stdout[-2000:] + sample.stderr[-2000:]
    import numpy as np
    assert np.load(work / "s.npz")["samples"].shape == (16, 2)

"""The training loop of one GAN run, usable without Ray.

:class:`GanRun` builds everything from a :class:`~trainables.config.RunConfig` (nets from the
objective's needs, Adam optimisers with separate TTUR settings for D and G, the data stream, the
latent prior) and runs iterations: an auto-encoder step (GN-GAN), ``n_critic`` D steps (each
followed by the objective's ``after_d_step``, e.g. MLGAN weight clipping) and ``n_gen`` G steps,
then the generator EMA's update (``run.ema``, :mod:`trainables.ema`): :meth:`GanRun.generate` and
everything built on it (evaluations, samples, ``best.pt``'s users) use the averaged generator.

Its whole state (nets, EMA, optimisers, schedulers, data stream, noise generator, torch RNG, step) is
exposed by :meth:`GanRun.state_dict`; a run restored with :meth:`GanRun.load_state_dict`
continues bit-for-bit as if never interrupted. Randomness has three sources, all saved:
the data stream's generator (on the training device: toy batches are drawn there, in-memory image
sets may be held there, ``data.on_device``), the latent-noise generator (CPU, so CPU and CUDA runs
draw the same codes; copied pinned and non-blocking) and torch's global RNG (gradient-penalty interpolation, SN vectors at construction).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Callable

import torch

from trainables.checkpoint import CheckpointError, load_checkpoint
from trainables.config import Z_DISTS, RunConfig, resolve_config
from trainables.schema import ConfigError
from trainables.data.streams import build_stream, data_shape
from trainables.device import pick_device, to_device
from trainables.ema import GeneratorEMA
from trainables.metric_names import LOSS_AE, LOSS_D, LOSS_G
from trainables.nets.build import build_nets
from trainables.precision import autocast


@dataclass
class Draw:
    """What an objective draws batches from during one step."""

    real: Callable[[], torch.Tensor]  # a fresh real batch
    z: Callable[[int], torch.Tensor]  # n fresh latent codes
    batch_size: int


class GanRun:
    """One GAN being trained: nets, optimisers, data, RNG and step counter."""

    def __init__(self, cfg: RunConfig | dict):
        self.cfg = cfg if isinstance(cfg, RunConfig) else resolve_config(cfg)
        cfg = self.cfg
        self.device = pick_device(cfg.device)
        torch.manual_seed(cfg.seed)
        self.objective = cfg.hparams
        self.data_shape = data_shape(cfg.data)
        self.nets = build_nets(
            cfg.net.arch, data_shape=self.data_shape, z_dim=cfg.net.z_dim,
            embed_dim=self.objective.embed_dim, normalize_embedding=self.objective.normalize_embedding,
            sn=cfg.net.sn, sn_scale=cfg.net.sn_scale, with_encoder=self.objective.needs_encoder, **cfg.net.kwargs,
        )
        memory = torch.channels_last if cfg.perf.channels_last else torch.preserve_format
        for net in self.nets.values():
            net.to(self.device, memory_format=memory).train()
        o = cfg.optim
        self.optims = {
            "D": torch.optim.Adam(self.nets["D"].parameters(), lr=o.lr_d, betas=(o.beta1_d, o.beta2_d)),
            "G": torch.optim.Adam(self.nets["G"].parameters(), lr=o.lr_g, betas=(o.beta1_g, o.beta2_g)),
        }
        if self.objective.needs_encoder:
            ae_params = itertools.chain(self.nets["E"].parameters(), self.nets["G"].parameters())
            self.optims["AE"] = torch.optim.Adam(ae_params, lr=o.lr_g, betas=(o.beta1_g, o.beta2_g))
        # During one update's backward every trainable parameter its optimiser does not hold is frozen
        # (requires_grad off): its gradient would be thrown away (each update zeroes only its own),
        # so G's step no longer computes D's weight gradients. Same result, bit for bit. A parameter
        # built frozen is not in the list and stays frozen.
        self._trainable = [p for net in self.nets.values() for p in net.parameters() if p.requires_grad]
        self._held = {name: {id(p) for group in opt.param_groups for p in group["params"]}
                      for name, opt in self.optims.items()}
        self.schedulers = {}
        if o.lr_decay_every > 0 and o.lr_decay < 1.0:
            self.schedulers = {k: torch.optim.lr_scheduler.StepLR(opt, o.lr_decay_every, gamma=o.lr_decay)
                               for k, opt in self.optims.items()}
        self.stream = build_stream(cfg.data, seed=cfg.seed, device=self.device)
        self.noise = torch.Generator().manual_seed(cfg.seed + 1)
        self._z_fn = Z_DISTS[cfg.net.z_dist]
        real = self.stream.next
        if cfg.perf.channels_last:
            real = lambda: self.stream.next().contiguous(memory_format=torch.channels_last)  # noqa: E731
        self.draw = Draw(real=real, z=self.sample_z, batch_size=cfg.data.batch_size)
        self.ema = GeneratorEMA(self.nets["G"], cfg.ema.halflife_kimg, cfg.ema.rampup) if cfg.ema.on else None
        if cfg.perf.compile:  # after the EMA copy (a deep copy of a compiled module would call G itself)
            for name in ("G", "D"):
                self.nets[name].compile()  # in place: state dict keys and checkpoints unchanged
        self.step = 0
        self._standing_step: int | None = None  # step of the average's last standing statistics

    # -- sampling ---------------------------------------------------------------------------
    def sample_z(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` latent codes from the prior, drawn on CPU (same codes on every device)."""
        return to_device(self._z_fn(n, self.cfg.net.z_dim, generator or self.noise), self.device)

    @property
    def generator(self) -> torch.nn.Module:
        """The generator a run is judged by: the EMA average when ``ema`` is on, else G itself."""
        return self.ema.net if self.ema is not None else self.nets["G"]

    @torch.no_grad()
    def generate(self, z: torch.Tensor, batch_size: int = 500, raw: bool = False) -> torch.Tensor:
        """G(z) in eval mode (BN running statistics), in chunks; returns a CPU tensor. The EMA
        generator when ``ema`` is on, unless ``raw`` (the trained G itself)."""
        G = self.nets["G"] if raw else self.generator
        if G is not self.nets["G"] and self.cfg.ema.bn_stats == "standing" and self._standing_step != self.step:
            self.ema.standing_stats(self.sample_z, self.cfg.data.batch_size)
            self._standing_step = self.step
        was_training = G.training
        G.eval()
        try:
            chunks = [G(chunk.to(self.device)).cpu() for chunk in z.split(batch_size)]
        finally:
            G.train(was_training)
        return torch.cat(chunks)

    # -- training ---------------------------------------------------------------------------
    def _update(self, name: str, loss_fn: Callable[[], torch.Tensor]) -> torch.Tensor:
        """One optimiser step of ``name`` on ``loss_fn()`` (computed under ``perf.amp``'s autocast,
        backpropagated outside it), the nets it does not update frozen; returns the detached
        float32 loss."""
        held = self._held[name]
        for p in self._trainable:
            p.requires_grad_(id(p) in held)
        opt = self.optims[name]
        opt.zero_grad(set_to_none=True)
        with autocast(self.device, self.cfg.perf.amp):
            loss = loss_fn().float()
        loss.backward()
        opt.step()
        return loss.detach()

    def train_step(self) -> dict[str, torch.Tensor]:
        """One iteration (AE step, n_critic D steps, n_gen G steps); returns the last losses as
        detached 0-d tensors on the training device (reading them is the caller's choice: a
        ``float()`` per loss per step would make the host wait for the device every step)."""
        obj, nets = self.objective, self.nets
        out = {}
        if obj.needs_encoder:
            out[LOSS_AE] = self._update("AE", lambda: obj.ae_loss(nets, self.draw))
        for _ in range(self.cfg.optim.n_critic):
            out[LOSS_D] = self._update("D", lambda: obj.d_loss(nets, self.draw))
            obj.after_d_step(nets)
        for _ in range(self.cfg.optim.n_gen):
            out[LOSS_G] = self._update("G", lambda: obj.g_loss(nets, self.draw))
        for sched in self.schedulers.values():
            sched.step()
        self.step += 1
        if self.ema is not None:
            self.ema.update(nets["G"], cur_nimg=self.step * self.draw.batch_size, batch_size=self.draw.batch_size)
        return out

    def train(self, n_steps: int, callback: Callable[[int, dict], None] | None = None) -> dict[str, float]:
        """Run ``n_steps`` iterations; ``callback(step, losses)`` after each (0-d tensors).
        Returns the last losses as floats."""
        losses = {}
        for _ in range(n_steps):
            losses = self.train_step()
            if callback is not None:
                callback(self.step, losses)
        return {k: float(v) for k, v in losses.items()}

    # -- state ------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """Everything needed to continue bit-for-bit: plain data and tensors only."""
        state = {
            "step": self.step,
            "nets": {k: v.state_dict() for k, v in self.nets.items()},
            "optims": {k: v.state_dict() for k, v in self.optims.items()},
            "schedulers": {k: v.state_dict() for k, v in self.schedulers.items()},
            "stream": self.stream.state_dict(),
            "noise": self.noise.get_state(),
            "torch_rng": torch.get_rng_state(),
        }
        if self.ema is not None:
            state["ema"] = self.ema.state_dict()
        if self.device.type == "cuda":
            state["cuda_rng"] = torch.cuda.get_rng_state(self.device)
        return state

    def load_state_dict(self, state: dict) -> None:
        for k, net in self.nets.items():
            net.load_state_dict(state["nets"][k])
        if self.ema is not None:  # a checkpoint without an average (EMA was off) starts it from G
            self.ema.load_state_dict(state.get("ema") or state["nets"]["G"])
        self._standing_step = None
        for k, opt in self.optims.items():
            opt.load_state_dict(state["optims"][k])
        for k, sched in self.schedulers.items():
            sched.load_state_dict(state["schedulers"][k])
        self.stream.load_state_dict(state["stream"])
        self.noise.set_state(state["noise"])
        torch.set_rng_state(state["torch_rng"])
        if "cuda_rng" in state and self.device.type == "cuda":
            torch.cuda.set_rng_state(state["cuda_rng"], self.device)
        self.step = int(state["step"])

    def apply_optim_settings(self) -> None:
        """Set every optimiser's learning rate and betas from ``cfg.optim`` (after loading another
        run's optimiser states, e.g. a PBT exploit with perturbed learning rates)."""
        o = self.cfg.optim
        settings = {"D": (o.lr_d, (o.beta1_d, o.beta2_d)), "G": (o.lr_g, (o.beta1_g, o.beta2_g)),
                    "AE": (o.lr_g, (o.beta1_g, o.beta2_g))}
        for name, opt in self.optims.items():
            lr, betas = settings[name]
            sched = self.schedulers.get(name)  # a StepLR decay already applied stays applied
            decayed = sched.gamma ** (sched.last_epoch // sched.step_size) if sched is not None else 1.0
            for group in opt.param_groups:
                group["lr"], group["betas"] = lr * decayed, betas
            if sched is not None:
                sched.base_lrs = [lr] * len(opt.param_groups)

    def checkpoint_payload(self, best: dict | None = None) -> dict:
        """The self-describing checkpoint: state, resolved config, step and best metric so far."""
        return {"step": self.step, "config": self.cfg.to_dict(), "best": best, "state": self.state_dict()}

    def restore(self, data: dict, path) -> None:
        """Load a checkpoint payload's state into this run; :class:`CheckpointError` naming
        ``path`` when the state is missing or does not fit the run (other nets, a bad entry)."""
        try:
            self.load_state_dict(data["state"])
        except (KeyError, TypeError, ValueError, RuntimeError, AttributeError, IndexError) as exc:
            reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
            raise CheckpointError(f"{path}: its state does not fit this run ({type(exc).__name__}: {reason})") from None

    @classmethod
    def from_checkpoint(cls, path, device: str | None = None) -> "GanRun":
        """Rebuild a run from a checkpoint file or directory (``device`` overrides the config's);
        :class:`CheckpointError` naming the file when its config or state is unusable."""
        data = load_checkpoint(path)
        config = data.get("config")
        if not isinstance(config, dict):
            raise CheckpointError(f"{path}: holds no run config")
        if device is not None:
            config = {**config, "device": device}
        try:
            run = cls(config)
        except ConfigError as exc:
            raise CheckpointError(f"{path}: its run config is invalid ({exc})") from None
        run.restore(data, path)
        return run

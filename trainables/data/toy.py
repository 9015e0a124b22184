"""Synthetic 2D Gaussian mixtures (``ring8``, ``grid25``, user-defined) and a seeded, resumable sampler.

Settings follow benchmarks.md: ``ring8`` has 8 modes evenly on the unit circle (first mode at
angle 0) with std 0.01; ``grid25`` has 25 modes on {-4,-2,0,2,4}^2 with std 0.05.
A user-defined mixture (``data.name = "mixture"``) is described by ``data.mixture``, one of::

    {kind = "ring", count = 8, radius = 1.0, std = 0.01}     # count modes on a circle
    {kind = "grid", size = 5, spacing = 2.0, std = 0.05}     # size x size modes centred on 0
    {kind = "means", means = [[0, 0], [1, 2]], std = 0.1}    # explicit mode means
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Mixture:
    """An equal-weight mixture of isotropic 2D Gaussians: ``x = means[k] + std * eps``, k ~ U{0..K-1}."""

    name: str
    means: tuple[tuple[float, float], ...]
    std: float

    def __post_init__(self) -> None:
        if len(self.means) == 0:
            raise ValueError(f"means = (): mixture {self.name!r} needs at least one (x, y) mean")
        if any(len(m) != 2 for m in self.means):
            raise ValueError(f"means: every mean of mixture {self.name!r} must be an (x, y) pair")
        if not all(math.isfinite(v) for m in self.means for v in m):
            raise ValueError(f"means: every mean of mixture {self.name!r} must be finite")
        if not (self.std > 0 and math.isfinite(self.std)):
            raise ValueError(f"std = {self.std}: must be a finite number > 0")

    @property
    def num_modes(self) -> int:
        """Number of mixture components K."""
        return len(self.means)

    def means_tensor(self, dtype: torch.dtype = torch.float32, device: str | torch.device = "cpu") -> torch.Tensor:
        """Mode means as a (K, 2) tensor."""
        return torch.tensor(self.means, dtype=dtype, device=device)


def _ring(num: int, radius: float) -> tuple[tuple[float, float], ...]:
    """``num`` points evenly on a circle of ``radius``, the first at angle 0."""
    return tuple(
        (radius * math.cos(2 * math.pi * k / num), radius * math.sin(2 * math.pi * k / num)) for k in range(num)
    )


def _grid(values: tuple[float, ...]) -> tuple[tuple[float, float], ...]:
    """Cartesian product ``values x values`` (x major, y minor)."""
    return tuple((float(x), float(y)) for x in values for y in values)


MIXTURES: dict[str, Mixture] = {
    "ring8": Mixture("ring8", _ring(8, 1.0), 0.01),  # TripletGAN / PacGAN ring
    "grid25": Mixture("grid25", _grid((-4.0, -2.0, 0.0, 2.0, 4.0)), 0.05),  # PacGAN / VEEGAN grid
}


def get_mixture(name: str) -> Mixture:
    """Return the registered mixture called ``name``; unknown names raise ValueError."""
    if name not in MIXTURES:
        raise ValueError(f"mixture = {name!r}: expected one of {sorted(MIXTURES)}")
    return MIXTURES[name]


# kind -> {field: (type, check, what it accepts)} of a user-defined mixture spec.
_NUMBER = (int, float)
_COUNT = (int, lambda v: v >= 1, "an integer >= 1")
_POSITIVE = (_NUMBER, lambda v: v > 0 and math.isfinite(v), "a finite number > 0")
_MEANS = ((list, tuple), lambda v: len(v) >= 1 and all(
    isinstance(m, (list, tuple)) and len(m) == 2 and all(
        isinstance(c, _NUMBER) and not isinstance(c, bool) and math.isfinite(c) for c in m)
    for m in v), "a non-empty list of finite [x, y] pairs")
MIXTURE_KINDS = {
    "ring": {"count": _COUNT, "radius": _POSITIVE, "std": _POSITIVE},
    "grid": {"size": _COUNT, "spacing": _POSITIVE, "std": _POSITIVE},
    "means": {"means": _MEANS, "std": _POSITIVE},
}


def mixture_from_spec(spec: dict, field: str = "data.mixture") -> Mixture:
    """A :class:`Mixture` from a user spec (see the module docstring); a bad spec raises
    ValueError with one line naming ``field.<key>`` and what it accepts."""
    if not isinstance(spec, dict):
        raise ValueError(f"{field}: expected a mapping with kind = {' | '.join(MIXTURE_KINDS)}")
    kind = spec.get("kind")
    if kind not in MIXTURE_KINDS:
        raise ValueError(f"{field}.kind = {kind!r}: accepted values are {', '.join(MIXTURE_KINDS)}")
    fields = MIXTURE_KINDS[kind]
    unknown = sorted(set(spec) - set(fields) - {"kind"})
    if unknown:
        raise ValueError(f"{field}.{unknown[0]}: unknown key for kind {kind!r}; accepted keys are "
                         f"kind, {', '.join(fields)}")
    for key, (types, check, accepts) in fields.items():
        if key not in spec:
            raise ValueError(f"{field}.{key}: missing; {kind} mixtures need {', '.join(fields)}")
        value = spec[key]
        if isinstance(value, bool) or not isinstance(value, types) or not check(value):
            raise ValueError(f"{field}.{key} = {value!r}: must be {accepts}")
    std = float(spec["std"])
    if kind == "ring":
        return Mixture(f"ring{spec['count']}", _ring(spec["count"], float(spec["radius"])), std)
    if kind == "grid":
        half = (spec["size"] - 1) / 2
        values = tuple(float(spec["spacing"]) * (i - half) for i in range(spec["size"]))
        return Mixture(f"grid{spec['size'] ** 2}", _grid(values), std)
    means = tuple((float(x), float(y)) for x, y in spec["means"])
    return Mixture(f"mixture{len(means)}", means, std)


def mixture_of(data) -> Mixture:
    """The mixture of a toy data config (``DataConfig``: a registered name, or ``mixture``)."""
    if data.name == "mixture":
        return mixture_from_spec(data.mixture)
    return get_mixture(data.name)


class ToyStream:
    """Endless seeded stream of batches from a registered mixture.

    Each sample picks a mode uniformly (``torch.randint``) and adds ``std * N(0, I)`` noise
    (``torch.randn``), both drawn from a private ``torch.Generator`` on ``device`` seeded with
    ``seed``: batches are made where they are used, with no host-to-device copy and no host
    sync (a CUDA stream is therefore a different, equally seeded stream than the CPU one, as
    CUDA's generator is not CPU's). ``next()`` and ``sample(n)`` share that generator (each call
    advances it). ``state_dict()`` / ``load_state_dict()`` save and restore the generator so a
    resumed stream continues exactly where it stopped, on the same device type.
    """

    def __init__(self, name: str | Mixture, batch_size: int, seed: int, device: str | torch.device = "cpu") -> None:
        self.mixture = name if isinstance(name, Mixture) else get_mixture(name)
        name = self.mixture.name
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size = {batch_size!r}: must be a positive int")
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ValueError(f"seed = {seed!r}: must be an int")
        self.name = name
        self.batch_size = batch_size
        self.seed = seed
        self.device = torch.device(device)
        self._means = self.mixture.means_tensor(torch.float32, device=self.device)
        self._generator = torch.Generator(device=self.device)
        self._generator.manual_seed(seed)
        self.batches_drawn = 0  # number of next() calls so far (informational, saved in state_dict)

    @property
    def data_shape(self) -> tuple[int, ...]:
        """Shape of one sample: (2,)."""
        return (2,)

    def sample(self, n: int) -> torch.Tensor:
        """Draw ``n`` points as an (n, 2) float32 tensor on ``device`` (advances the generator)."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"n = {n!r}: must be a positive int")
        idx = torch.randint(self.mixture.num_modes, (n,), generator=self._generator, device=self.device)
        noise = torch.randn(n, 2, generator=self._generator, dtype=torch.float32, device=self.device)
        return self._means[idx] + self.mixture.std * noise

    def next(self) -> torch.Tensor:
        """Next (batch_size, 2) float32 batch on ``device``."""
        batch = self.sample(self.batch_size)
        self.batches_drawn += 1
        return batch

    def __iter__(self) -> "ToyStream":
        return self

    def __next__(self) -> torch.Tensor:
        return self.next()

    def state_dict(self) -> dict:
        """Resumable state: the generator's ByteTensor state plus the stream's identity."""
        return {
            "generator": self._generator.get_state(),
            "device_type": self.device.type,
            "name": self.name,
            "batch_size": self.batch_size,
            "seed": self.seed,
            "batches_drawn": self.batches_drawn,
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore a state from ``state_dict()``; the mixture name must match this stream's."""
        if "generator" not in state:
            raise ValueError("state: missing field 'generator' (expected the dict from ToyStream.state_dict())")
        if state.get("name", self.name) != self.name:
            raise ValueError(f"state['name'] = {state['name']!r}: this stream samples {self.name!r}")
        saved = state.get("device_type", "cpu")
        if saved != self.device.type:
            raise ValueError(f"state['device_type'] = {saved!r}: this stream samples on {self.device.type!r}; "
                             f"a toy stream resumes on the device type it was saved from")
        self._generator.set_state(state["generator"].clone().cpu())
        self.batches_drawn = int(state.get("batches_drawn", 0))

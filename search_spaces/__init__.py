"""Optuna helpers over the GANs' define-by-run search spaces (each GAN's ``GanSpec.space``, in
its module ``trainables/gans/<name>.py``; shared axes in ``trainables/gans/axes.py``).

Contract of every space: ``space(trial, family) -> dict`` only calls ``trial.suggest_*``
(branches allowed) and returns a **flat** dict of dotted run-config keys
(``{"hparams.margin": 0.7, "optim.lr_d": 2e-4, ...}``). The Optuna parameter names are those
same keys, so the returned dict equals ``trial.params`` and a point (``points_to_evaluate``,
a result row) is directly a partial config: ``unflatten`` + ``deep_merge`` onto a base config.
Conditional parameters exist only when their switch is on (MLGAN ``beta`` for ``center``,
``clip_value`` for ``clip``; repulsive-MMD ``b_l``/``b_u`` when ``bounded``).

Helpers here:
- :func:`get_space` / :func:`bind_space`: the space function of a GAN (bound to a family for
  Ray's ``OptunaSearch(space=...)``, which calls ``space(trial)``);
- :func:`default_point`: the paper defaults expressed as a point of the space (first
  ``points_to_evaluate``);
- :func:`space_params` / :func:`format_space`: every parameter's distribution and condition;
- :func:`apply_point` / :func:`point_config` / :func:`trial_base`: a point merged onto a base config.
"""

from __future__ import annotations

import functools

from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import FixedTrial

from trainables.config import DATA_FAMILIES, DataConfig, defaults_for, flatten, resolve_config, unflatten
from trainables.schema import apply_point  # noqa: F401  (public here: the point helpers of search spaces)
from trainables.gans.axes import FAMILIES, check_family
from trainables.registry import get_gan, load_gan_module

# One dataset per family whose defaults stand for the family (the first listed in DATA_FAMILIES).
FAMILY_DATASET = {family: next(d for d, f in DATA_FAMILIES.items() if f == family) for family in FAMILIES}


def get_space(gan: str):
    """The define-by-run function ``space(trial, family) -> dict`` of a registered GAN
    (``trainables.registry.get_gan(gan).load_space()``); unknown GANs raise ConfigError."""
    return get_gan(gan).load_space()


class PinnedTrial:
    """A trial whose suggestions of the ``pinned`` names return the pinned values without
    suggesting them (a study's ``[run]`` fixes those keys: Optuna never searches them, and the
    space's branches follow a pinned switch); every other call goes to ``trial``."""

    def __init__(self, trial, pinned: dict):
        self._trial, self._pinned = trial, pinned

    def _pick(self, kind: str, name: str, *args, **kwargs):
        if name in self._pinned:
            return self._pinned[name]
        return getattr(self._trial, kind)(name, *args, **kwargs)

    def suggest_float(self, name, *args, **kwargs):
        return self._pick("suggest_float", name, *args, **kwargs)

    def suggest_int(self, name, *args, **kwargs):
        return self._pick("suggest_int", name, *args, **kwargs)

    def suggest_categorical(self, name, *args, **kwargs):
        return self._pick("suggest_categorical", name, *args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._trial, name)


def _run_space(space, pinned: dict, trial, family: str) -> dict:
    return space(PinnedTrial(trial, pinned) if pinned else trial, family=family)


def bind_space(gan: str, family: str, pinned: dict | None = None):
    """The GAN's space with ``family`` fixed: a picklable ``f(trial) -> dict`` for
    ``ray.tune.search.optuna.OptunaSearch(space=f)``. Checks both names now. ``pinned``
    (``{key: value}``, see :class:`PinnedTrial`): keys left out of the search, their values
    still in every returned point."""
    check_family(family)
    return functools.partial(_run_space, get_space(gan), dict(pinned or {}), family=family)


def default_point(gan: str, family: str, arch: str | None = None, pinned: dict | None = None) -> dict:
    """The GAN's paper defaults on ``family`` (with the nets ``arch``, when a study sets
    ``run.net.arch``: its ``"<family>/<arch>"`` preset applies) as a point of its space.

    Takes the fully resolved default config of the family's representative dataset
    (:data:`FAMILY_DATASET`; ``resolve_config(defaults_for(gan, dataset))``, so objective and
    optimiser dataclass defaults are included), flattens it, and runs the space on an Optuna
    ``FixedTrial`` holding those values: the result holds exactly the parameters the space
    suggests on the default branch (e.g. MLGAN ``vanilla``: no beta), named by their Optuna
    names (= config keys), ready for ``points_to_evaluate``; ``pinned`` keys the space owns take
    their pinned values (and the branch they select).
    Raises ValueError if a default lies outside its distribution (a space bug).
    """
    check_family(family)
    defaults = flatten(resolve_config(defaults_for(gan, FAMILY_DATASET[family], arch)).to_dict())
    trial = FixedTrial(defaults)
    point = bind_space(gan, family, pinned)(trial)
    for name, dist in trial.distributions.items():
        value = trial.params[name]
        if not within(dist, value):
            raise ValueError(f"{name} = {value!r}: the {gan} default on {family} lies outside {dist}")
    return dict(point)


def within(dist, value) -> bool:
    """Is ``value`` a point of the Optuna distribution ``dist`` (its choices, or inside its
    bounds and on its step grid)?"""
    if isinstance(dist, CategoricalDistribution):
        return value in dist.choices
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not dist.low <= value <= dist.high:
        return False
    if dist.step is None:
        return True
    ticks = (value - dist.low) / dist.step
    return abs(ticks - round(ticks)) < 1e-8


class _Recorder:
    """Trial stand-in for :func:`space_params`: records each distribution; categorical values
    follow ``forced`` (first choice otherwise); floats/ints return their low end."""

    def __init__(self, forced: dict):
        self.forced = forced
        self.distributions: dict = {}
        self.categoricals: list[str] = []

    def suggest_float(self, name, low, high, *, step=None, log=False):
        self.distributions[name] = FloatDistribution(low, high, log=log, step=step)
        return low

    def suggest_int(self, name, low, high, *, step=1, log=False):
        self.distributions[name] = IntDistribution(low, high, log=log, step=step)
        return low

    def suggest_categorical(self, name, choices):
        self.distributions[name] = CategoricalDistribution(choices)
        self.categoricals.append(name)
        return self.forced.get(name, choices[0])


def _branches(space_fn) -> list[tuple[dict, dict]]:
    """Every leaf of the space's categorical tree: (categorical assignment, distributions)."""
    leaves, stack = [], [{}]
    while stack:
        forced = stack.pop()
        rec = _Recorder(forced)
        space_fn(rec)
        free = [name for name in rec.categoricals if name not in forced]
        if free:
            name = free[0]
            stack.extend({**forced, name: c} for c in reversed(rec.distributions[name].choices))
        else:
            leaves.append((forced, rec.distributions))
    return leaves


def space_params(gan: str, family: str, pinned: dict | None = None) -> dict:
    """Every parameter of the GAN's space on ``family``: ``{name: {"distribution": <optuna
    distribution>, "when": {switch: (values...)}}}`` in order of first suggestion.

    Found by running the space on a recording trial once per combination of categorical
    values; ``when`` lists, for each categorical switch, the values under which the parameter
    exists, and is empty for unconditional parameters (e.g. MLGAN ``hparams.beta`` has
    ``when = {"hparams.variant": ("center",)}``). ``pinned`` keys are not parameters.
    """
    leaves = _branches(bind_space(gan, family, pinned))
    out: dict = {}
    for _, dists in leaves:
        for name, dist in dists.items():
            out.setdefault(name, {"distribution": dist, "when": {}})
    switches = {name for forced, _ in leaves for name in forced}
    for name, info in out.items():
        present = [forced for forced, dists in leaves if name in dists]
        for switch in sorted(switches - {name}):
            everywhere = {forced[switch] for forced, _ in leaves if switch in forced}
            here = {forced[switch] for forced in present if switch in forced}
            if here != everywhere:
                choices = out[switch]["distribution"].choices
                info["when"][switch] = tuple(c for c in choices if c in here)
    return out


def _describe(dist) -> str:
    if isinstance(dist, CategoricalDistribution):
        return "one of {" + ", ".join(map(str, dist.choices)) + "}"
    kind = "log-uniform" if dist.log else "uniform"
    if isinstance(dist, IntDistribution):
        kind = f"integer {kind}"
    step = f" step {dist.step}" if dist.step not in (None, 1) else ""
    return f"{kind} [{dist.low:g}, {dist.high:g}]{step}"


def format_space(gan: str, family: str) -> str:
    """Human-readable table of :func:`space_params` with the default point, one line a parameter:
    ``name  distribution  [default v]  (only when switch in {..})``."""
    params = space_params(gan, family)
    default = default_point(gan, family)
    width = max(map(len, params))
    lines = [f"{gan} on {family} ({len(params)} parameters)"]
    for name, info in params.items():
        line = f"  {name:<{width}}  {_describe(info['distribution'])}"
        if name in default:
            line += f"  [default {default[name]!r}]"
        for switch, values in info["when"].items():
            line += f"  (only when {switch} in {{{', '.join(map(str, values))}}})"
        lines.append(line)
    return "\n".join(lines)


def point_config(base: dict, point: dict) -> dict:
    """A trial's nested config: :func:`trial_base` of ``base``, then :func:`apply_point`."""
    return apply_point(trial_base(base), point)


def trial_base(base: dict) -> dict:
    """``base`` (holding ``gan`` and optionally ``data.name``) without the keys the GAN's space
    owns on that dataset's family: the base run an Optuna trial's point is merged onto.

    Dropping the owned keys first makes a conditional parameter that is off in a point fall
    back to the objective's (variant's) default rather than to a value fixed in ``base``
    (e.g. a base ``hparams.beta = 20`` must not reach an MLGAN ``vanilla`` trial). The driver
    drops them once (``study.sweep.gan_constants``): a worker only merges the point.
    """
    if not isinstance(base, dict) or "gan" not in base:
        raise ValueError("base: expected a config mapping with a 'gan' key")
    if base.get("gan_module") is not None:  # a GAN outside trainables/gans
        load_gan_module(base["gan_module"], "gan_module")
    dataset = base.get("data", {}).get("name", DataConfig.name)
    family = DATA_FAMILIES.get(dataset)
    if family is None:
        raise ValueError(f"data.name = {dataset!r}: accepted values are {', '.join(DATA_FAMILIES)}")
    owned = set(space_params(base["gan"], family))
    return unflatten({k: v for k, v in flatten(base).items() if k not in owned})

"""Population Based Training of a study's GANs (``scheduler.type = "pbt"``; Jaderberg et al. 2017).

Per GAN, a population of ``search.samples_per_gan`` trials trains side by side. Every
``scheduler.perturbation_interval`` steps a member in the bottom ``quantile_fraction`` of its
GAN's population (by the study metric) copies the checkpoint of a member of the top fraction
(*exploit*: nets, optimiser states, step) and perturbs the copied hyperparameters (*explore*:
each one x0.8 or x1.2, or redrawn from its range with ``resample_probability``). Ray Tune's
``PopulationBasedTraining`` does both; this module gives it, per GAN:

- the initial population (:func:`initial_population`): the GAN's paper defaults first, then
  seeded random draws from its search space (or its grid points). PBT learns no model of the
  space, so no searcher (Optuna) is involved: PBT rewrites the configs of running trials,
  which a searcher that learns from (config, value) pairs would misread;
- the mutations (:func:`mutations`): the continuous hyperparameters of the GAN's space that
  every configuration has (learning rates, margins, lambdas, kernel bounds); categorical switches
  and conditional parameters stay as drawn;
- :func:`clip_to_space`: a perturbed value is clipped to its range (x1.2 can leave it).

Each GAN's PBT only sees its own trials (``study.routing.PerGanScheduler``). The lineage (which
trial a member copied, at which step, with which new values) is recorded on the member's MLflow
run by the trainable (``study.trainable``): tag ``pbt_lineage`` and metrics ``pbt/<param>``.
"""

from __future__ import annotations

import optuna
from ray import tune
from ray.tune.schedulers import PopulationBasedTraining

import search_spaces
from study.study_file import StudyFile

KEEP_CHECKPOINTS = None  # every checkpoint of every member is kept: a member copies another's
# checkpoint when it next starts, possibly many reports later (a retention by count or score
# deleted copied checkpoints before they were loaded: "does not exist on storage anymore")


def mutations(gan: str, family: str, pinned: dict | None = None) -> dict:
    """``{param: tune domain}``: the unconditional float parameters of the GAN's space (the
    ``pinned`` keys left out)."""
    out = {}
    for name, info in search_spaces.space_params(gan, family, pinned).items():
        dist = info["distribution"]
        if isinstance(dist, optuna.distributions.FloatDistribution) and not info["when"]:
            out[name] = (tune.loguniform if dist.log else tune.uniform)(dist.low, dist.high)
    return out


class clip_to_space:
    """PBT's ``custom_explore_fn``: every mutated value clipped to its range (picklable)."""

    def __init__(self, domains: dict):
        self.bounds = {k: (d.lower, d.upper) for k, d in domains.items()}

    def __call__(self, config: dict) -> dict:
        for key, (low, high) in self.bounds.items():
            if key in config:
                config[key] = min(max(config[key], low), high)
        return config


def initial_population(study: StudyFile, gan: str, seed: int) -> list[dict]:
    """The GAN's starting members as flat points: its grid, or its defaults followed by
    ``search.samples_per_gan - 1`` draws of a seeded random sampler over its space."""
    points = study.grid_points(gan)
    if points is not None:
        return [dict(p) for p in points]
    space = search_spaces.bind_space(gan, study.family, study.pinned(gan))
    draws = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    population = [study.default_point(gan)]
    while len(population) < study.samples:
        population.append(dict(space(draws.ask())))
    return population


def make_pbt(study: StudyFile, gan: str, metric: str, mode: str, population: list[dict]) -> PopulationBasedTraining:
    """The PBT (or PB2) scheduler of one GAN's population (mutating only parameters every member
    has: PBT would otherwise add a missing one to a config by drawing it, e.g. to a grid point).

    PB2 (``scheduler.type = "pb2"``, Ray's ``PB2``: Parker-Holder et al. 2020) replaces the random
    explore by a time-varying GP bandit over the same parameters' bounds (``hyperparam_bounds``,
    the ranges of the GAN's space); the exploit, the interval and the lineage are PBT's."""
    domains = {k: d for k, d in mutations(gan, study.family, study.pinned(gan)).items()
               if all(k in p for p in population)}
    if not domains:
        raise ValueError(f"{gan}: its search space has no continuous parameter for PBT to perturb")
    if study.scheduler.type == "pb2":
        from ray.tune.schedulers.pb2 import PB2  # scikit-learn's GP: only for PB2 studies

        return PB2(time_attr="step", metric=metric, mode=mode, perturbation_interval=study.perturbation_interval,
                   hyperparam_bounds={k: [d.lower, d.upper] for k, d in domains.items()},
                   quantile_fraction=study.scheduler.quantile_fraction, custom_explore_fn=clip_to_space(domains))
    return PopulationBasedTraining(
        time_attr="step", metric=metric, mode=mode, perturbation_interval=study.perturbation_interval,
        hyperparam_mutations=domains, quantile_fraction=study.scheduler.quantile_fraction,
        resample_probability=study.scheduler.resample_probability, custom_explore_fn=clip_to_space(domains))

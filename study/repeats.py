"""``search.repeats``: after the search, each GAN's ``top_k`` configurations retrained with new seeds.

A single seed misleads: "Are GANs Created Equal?" (Lucic et al. 2018) re-trains the best
configurations of each GAN with several seeds before comparing GANs. Here the repeats are
trials of the same study, run after the search sweep in a second Tune experiment
``<tune_storage>/repeats/`` (all GANs at once under the study's concurrency budget, no early
stopping: each runs ``run.steps``). For each GAN, its ``top_k`` search trials by their ranked
value are each retrained with the seeds ``run.seed + 1 .. run.seed + repeats``; each repeat's MLflow
child run is tagged ``repeat_of`` (the search trial's id) and ``seed`` and named
``<gan> #<k> seed <s>`` after the trial it repeats. The leaderboard then ranks each GAN by its
best configuration's mean over seeds (the search trial's own seed included) and shows mean ± std
(``study.report.leaderboard``).
"""

from __future__ import annotations

import copy
import re

from ray.tune.schedulers import FIFOScheduler

from study import report
from study.routing import FixedPoints, PerGanSearcher
from study.state import write_state
from study.study_file import StudyFile
from study.sweep import StudyInterrupted, gan_constants, make_tuner, restored_or_new, sweep_complete

REPEATS_DIR = "repeats"  # the Tune experiment of the repeats, under the study's tune_storage
_INDEX = re.compile(r"#(\d+)$")  # the k of a search trial's run name "<gan> #<k>"


def repeat_seeds(study: StudyFile) -> list[int]:
    """The new seeds: ``run.seed + 1 .. run.seed + search.repeats``."""
    base = int(study.base_run(study.gans[0]).get("seed", 0))
    return [base + j for j in range(1, study.search.repeats + 1)]


def top_configurations(study: StudyFile, state: dict) -> dict[str, list[dict]]:
    """Per GAN, its ``top_k`` ranked search trials (best first; ties: earlier step, then fewer
    steps trained, as in the leaderboard)."""
    trials, _ = report.ranked_trials(state["tracking_uri"], state["experiment_id"], state["parent_run_id"])
    out = {}
    for gan in study.gans:
        mine = [t for t in trials if t["gan"] == gan and not t["repeat_of"]]
        out[gan] = report.best_first(mine)[: study.search.top_k]
    return out


def repeat_configs(study: StudyFile, state: dict) -> dict[str, list[dict]]:
    """Per GAN, the trial configs of its repeats: each top configuration's searched point over the
    GAN's base run, with a new seed, tagged with the trial it repeats."""
    seeds = repeat_seeds(study)
    out = {}
    for gan, tops in top_configurations(study, state).items():
        configs = []
        for top in tops:
            match = _INDEX.search(top["run_name"] or "")
            for seed in seeds:
                config = copy.deepcopy(gan_constants(study, gan))
                config.update(copy.deepcopy(top["config"]))  # the searched point, flat dotted keys
                config["run"]["seed"] = seed
                config["study"].update({"repeat_of": top["trial_id"],
                                        "trial_index": int(match.group(1)) if match else None})
                configs.append(config)
        out[gan] = configs
    return out


def build_repeats_tuner(study: StudyFile, state: dict):
    metric, mode = study.objective
    configs = repeat_configs(study, state)
    state["repeat_trials"] = sum(map(len, configs.values()))
    searcher = PerGanSearcher({gan: FixedPoints(c, metric, mode) for gan, c in configs.items()},
                              {gan: len(c) for gan, c in configs.items()}, {gan: {} for gan in configs},
                              metric, mode)
    return make_tuner(study, state, REPEATS_DIR, searcher, FIFOScheduler(), {gan: len(c) for gan, c in configs.items()})


def run_repeats(study: StudyFile, state: dict, *, resume: bool) -> None:
    """Run (or restore and finish) the repeats; raises StudyInterrupted if cut short."""
    tuner = restored_or_new(study, state, REPEATS_DIR, resume, lambda: build_repeats_tuner(study, state))
    write_state(study.study_dir.resolve(), state)  # repeat_trials: a resumed study knows when they are done
    n = state["repeat_trials"]
    print(f"repeats: {n} trials (top {study.search.top_k} configuration(s) of each GAN x seeds "
          f"{', '.join(map(str, repeat_seeds(study)))}), {study.max_steps} steps each", flush=True)
    if not sweep_complete(tuner.fit(), n):
        raise StudyInterrupted(study.name)

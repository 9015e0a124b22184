"""Population Based Training (``scheduler.type = "pbt"``, study.pbt): populations per GAN from
the GAN's defaults and space, perturbations inside the space, optimiser settings taken over
after an exploit, lineage in MLflow, and a PBT smoke study."""

from __future__ import annotations

import json

import optuna
import pytest
import torch
from _cli_run import run_study_file



def _study(**scheduler):
    from study.study_file import parse_study

    return parse_study({"name": "p", "gans": ["tripletgan", "mlgan"], "run": {"steps": 40, "data": {"name": "ring8"},
                                                                              "eval": {"every": 10}},
                        "search": {"samples_per_gan": 4, "seed": 3}, "scheduler": {"type": "pbt", **scheduler}})


def test_mutations_are_the_unconditional_floats_of_the_space():
    import search_spaces
    from study.pbt import mutations

    params = search_spaces.space_params("mlgan", "toy")
    domains = mutations("mlgan", "toy")
    assert domains, "MLGAN's toy space has learning rates and margins"
    for name, info in params.items():
        dist = info["distribution"]
        expected = isinstance(dist, optuna.distributions.FloatDistribution) and not info["when"]
        assert (name in domains) == expected, name
        if expected:
            assert (domains[name].lower, domains[name].upper) == (dist.low, dist.high)
    assert "hparams.beta" in params and "hparams.beta" not in domains  # only under variant = center


def test_explore_stays_inside_the_space():
    from study.pbt import clip_to_space, mutations

    domains = mutations("tripletgan", "toy")
    clip = clip_to_space(domains)
    (key, dom), = list(domains.items())[:1]
    over = clip({key: dom.upper * 1.2, "other": 5.0})
    under = clip({key: dom.lower * 0.8})
    assert over == {key: dom.upper, "other": 5.0} and under == {key: dom.lower}
    inside = (dom.lower + dom.upper) / 2
    assert clip({key: inside}) == {key: inside}


def test_population_starts_from_the_defaults_then_seeded_draws_of_the_space():
    import search_spaces
    from study.pbt import initial_population

    study = _study()
    pop = initial_population(study, "mlgan", seed=11)
    assert len(pop) == 4 and pop[0] == search_spaces.default_point("mlgan", "toy")
    assert pop == initial_population(study, "mlgan", seed=11) != initial_population(study, "mlgan", seed=12)
    params = search_spaces.space_params("mlgan", "toy")
    for point in pop:
        assert all(search_spaces.within(params[k]["distribution"], v) for k, v in point.items())
    assert len({json.dumps(p, sort_keys=True) for p in pop}) == 4


def test_pbt_settings_are_checked_before_any_work():
    from study.study_file import StudyError

    assert _study().perturbation_interval == 20  # default: 2 evaluations
    with pytest.raises(StudyError, match=r"scheduler.perturbation_interval = 15: must be a multiple of run.eval.every \(10\)"):
        _study(perturbation_interval=15)
    with pytest.raises(StudyError, match="scheduler.quantile_fraction"):
        _study(quantile_fraction=0.6)
    with pytest.raises(StudyError, match="scheduler.type"):
        _study(type="pb3")
    from study.study_file import parse_study
    base = {"name": "p", "gans": ["mbgan"], "run": {"data": {"name": "ring8"}}, "scheduler": {"type": "pbt"}}
    with pytest.raises(StudyError, match="search.repeats = 2: not available with scheduler.type = 'pbt'"):
        parse_study({**base, "search": {"repeats": 2}})
    with pytest.raises(StudyError, match="PBT needs a population of at least 2 per GAN"):
        parse_study({**base, "search": {"samples_per_gan": 1}})


def test_copied_optimiser_states_take_the_members_own_learning_rates():
    from trainables.loop import GanRun

    cfg = {"gan": "nsgan", "data": {"name": "ring8", "batch_size": 16}, "net": {"arch": "toy_triplet"}}
    donor = GanRun({**cfg, "optim": {"lr_d": 1e-3, "lr_g": 2e-3, "beta1_d": 0.5}})
    donor.train_step()
    member = GanRun({**cfg, "optim": {"lr_d": 3e-4, "lr_g": 5e-4, "beta1_d": 0.1}})
    member.restore({"state": donor.state_dict()}, "donor.pt")
    assert member.optims["D"].param_groups[0]["lr"] == 1e-3  # the donor's, as loaded
    member.apply_optim_settings()
    d, g = member.optims["D"].param_groups[0], member.optims["G"].param_groups[0]
    assert (d["lr"], d["betas"][0], g["lr"]) == (3e-4, 0.1, 5e-4)
    assert torch.equal(member.optims["D"].state_dict()["state"][0]["exp_avg"],
                       donor.optims["D"].state_dict()["state"][0]["exp_avg"])  # the moments stay copied


def test_each_gans_scheduler_sees_only_its_own_trials():
    from types import SimpleNamespace

    from study.routing import GanView

    trials = [SimpleNamespace(config={"study": {"gan": g}}, name=n) for n, g in (("a", "x"), ("b", "y"), ("c", "x"))]
    controller = SimpleNamespace(get_trials=lambda: trials, search_alg="a searcher", pause_trial=lambda t: t.name)
    view = GanView(controller, "x")
    assert [t.name for t in view.get_trials()] == ["a", "c"]
    assert view.search_alg is None and view.pause_trial(trials[1]) == "b"


def test_an_exploit_loads_the_copy_without_its_history_and_records_the_lineage(tmp_path):
    """The trainable's side of an exploit, without Ray: a checkpoint of another trial loads its
    state, not its history or run id; the member's optimisers keep their own settings; the
    lineage and the new values land on the member's own MLflow run, each exploit once however
    often Ray starts the member from the same copy."""
    from mlflow import MlflowClient
    from ray import tune

    from study.tracking import TrialTracker
    from study.trial_spec import TrialStudy
    from study.trainable import _restore
    from study.trial_records import record_pbt
    from trainables.checkpoint import CHECKPOINT_NAME, save_checkpoint
    from trainables.loop import GanRun

    base = {"gan": "tripletgan", "data": {"name": "ring8", "batch_size": 16}, "net": {"arch": "toy_triplet"}}
    donor = GanRun({**base, "optim": {"lr_g": 1e-3}})
    donor.train(3)
    ckpt = tmp_path / "donor" / "checkpoint_000001"
    save_checkpoint(ckpt / CHECKPOINT_NAME, {**donor.checkpoint_payload(best={"eval/fit": 0.5, "step": 3}),
                                             "mlflow_run_id": "donor-run", "trial_id": "donor",
                                             "evaluations": [{"step": 3, "eval/fit": 0.5}]})
    g_at_copy = next(iter(donor.nets["G"].parameters())).detach().clone()
    donor.train(3)  # the donor trains on: a newer checkpoint in its folder must not be taken instead
    save_checkpoint(tmp_path / "donor" / "checkpoint_000002" / CHECKPOINT_NAME,
                    {**donor.checkpoint_payload(best=None), "mlflow_run_id": "donor-run", "trial_id": "donor"})
    member = GanRun({**base, "optim": {"lr_g": 4e-4}})
    best, run_id, evaluations, copied, lineage = _restore(member, tune.Checkpoint.from_directory(str(ckpt)),
                                                          "member", "tripletgan_member")
    assert (best, run_id, evaluations, lineage) == (None, None, [], None) and copied["trial_id"] == "donor"
    assert member.step == 3 and member.optims["G"].param_groups[0]["lr"] == 4e-4
    assert torch.equal(next(iter(member.nets["G"].parameters())), g_at_copy)
    own = _restore(GanRun(base), tune.Checkpoint.from_directory(str(ckpt)), "donor")  # its own: history kept
    assert own[:3] == ({"eval/fit": 0.5, "step": 3}, "donor-run", [{"step": 3, "eval/fit": 0.5}]) and own[3:] == (
        None, None)  # a checkpoint without a lineage (not a PBT member's, or older than the key)

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    client = MlflowClient(uri)
    exp = client.create_experiment("t", artifact_location=(tmp_path / "mlruns").as_uri())
    study = TrialStudy(tracking_uri=uri, experiment_id=exp, parent_run_id=client.create_run(exp).info.run_id,
                       study_name="t", gan="tripletgan", flush_every=50)
    point = {"optim.lr_g": 4e-4, "hparams.distance": "l2"}
    tracker = TrialTracker(study, "member", "tripletgan_member", member.cfg, point)
    def tag():
        return json.loads(client.get_run(tracker.run_id).data.tags.get("pbt_lineage", "[]"))

    first, second = ({"step": 3, "copied_trial": "donor", "copied_run": "donor-run", "values": {"optim.lr_g": v}}
                     for v in (4e-4, 5e-4))  # numeric values only: categorical ones stay as drawn
    assert record_pbt(tracker, member, point, copied, "member", None) == [first] == tag()
    assert record_pbt(tracker, member, point, copied, "member", None) == [first] == tag()  # the same copy again
    lr5 = {**point, "optim.lr_g": 5e-4}
    assert record_pbt(tracker, member, lr5, copied, "member", None) == [first, second] == tag()  # a second copy
    assert record_pbt(tracker, member, lr5, copied, "member", None) == [first, second] == tag()
    assert [(m.step, m.value) for m in client.get_metric_history(tracker.run_id, "pbt/optim.lr_g")] == [
        (3, 4e-4), (3, 5e-4)]  # a start from a copy already recorded logs nothing more
    # a study resumed from a snapshot taken between the two exploits starts the member from the first
    # copy: the second belongs to a timeline that is gone
    assert record_pbt(tracker, member, point, copied, "member", None) == [first] == tag()
    # ... or from its own checkpoint: the tag becomes the lineage that checkpoint holds
    assert record_pbt(tracker, member, lr5, None, "member", [first, second]) == [first, second] == tag()
    assert record_pbt(tracker, member, point, None, "member", []) == [] == tag()
    assert record_pbt(tracker, member, point, None, "member", None) == [] == tag()  # a checkpoint without one
    own = tmp_path / "member" / "checkpoint_000001"  # the member's own checkpoints carry the lineage back
    save_checkpoint(own / CHECKPOINT_NAME, {**member.checkpoint_payload(best=None), "mlflow_run_id": tracker.run_id,
                                            "trial_id": "member", "pbt_lineage": [first]})
    assert _restore(GanRun(base), tune.Checkpoint.from_directory(str(own)), "member")[4] == [first]


STUDY = """
name = "pbt"
gans = ["tripletgan"]
max_concurrent = 2
[run]
steps = 60
seed = 1
[run.data]
name = "ring8"
[run.eval]
every = 10
num_samples = 400
[run.net]
arch = "toy_triplet"
[search]
samples_per_gan = 2
[scheduler]
type = "pbt"
perturbation_interval = 20
quantile_fraction = 0.5
resample_probability = 0.5
"""


@pytest.mark.slow
def test_a_member_started_from_a_finished_copy_reports_it(tmp_path, monkeypatch):
    """Ray's PBT can hand a lagging member the checkpoint a faster member saved at the last step
    (its perturbation at the end makes that its latest): nothing is left to train, yet the member
    evaluates the copy once and reports it, so its own MLflow run reaches the last step."""
    from types import SimpleNamespace

    from mlflow import MlflowClient
    from ray import tune

    import study.trainable as trainable
    from study.trial_spec import TrialStudy
    from trainables.checkpoint import CHECKPOINT_NAME, save_checkpoint
    from trainables.loop import GanRun

    run = {"gan": "tripletgan", "steps": 6, "data": {"name": "ring8", "batch_size": 16},
           "net": {"arch": "toy_triplet"}, "eval": {"every": 3, "num_samples": 64}}
    donor = GanRun(run)
    donor.train(6)
    ckpt = tmp_path / "donor" / "checkpoint_000002"
    save_checkpoint(ckpt / CHECKPOINT_NAME, {**donor.checkpoint_payload(best=None), "mlflow_run_id": "donor-run",
                                             "trial_id": "donor", "evaluations": []})
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    client = MlflowClient(uri)
    exp = client.create_experiment("t", artifact_location=(tmp_path / "mlruns").as_uri())
    study = TrialStudy(tracking_uri=uri, experiment_id=exp, parent_run_id=client.create_run(exp).info.run_id,
                       study_name="t", gan="tripletgan", search="grid", scheduler="pbt")
    reports = []
    context = SimpleNamespace(get_trial_id=lambda: "member", get_trial_name=lambda: "tripletgan_member",
                              get_trial_resources=lambda: None)  # no resources: one thread
    monkeypatch.setattr(trainable, "record_placement", lambda tracker, run: None)  # asks Ray's worker (starts Ray)
    monkeypatch.setattr(trainable, "tune", SimpleNamespace(
        get_checkpoint=lambda: tune.Checkpoint.from_directory(str(ckpt)), get_context=lambda: context,
        report=lambda metrics, checkpoint=None: reports.append((metrics, checkpoint)), Checkpoint=tune.Checkpoint))
    trainable.train_gan({"run": run, "study": study.to_dict(), "grid_point": {"optim.lr_g": 4e-4}})
    assert [m["step"] for m, _ in reports] == [6] and reports[0][1] is not None
    member_run, = [r for r in client.search_runs([exp]) if r.data.tags.get("trial_id") == "member"]
    assert [m.step for m in client.get_metric_history(member_run.info.run_id, "trained/steps")] == [6]
    assert json.loads(member_run.data.tags["pbt_lineage"])[0]["copied_trial"] == "donor"
    assert not __import__("ray").is_initialized()  # without Ray: the worker's own tests stay Ray-free


@pytest.mark.slow
def test_pbt_study_exploits_and_records_the_lineage(tmp_path):
    from study.pbt import mutations

    out, state, client, runs = run_study_file(tmp_path, "pbt", STUDY)
    statuses = [(r.info.run_name, r.info.status, r.data.tags.get("stop_reason")) for r in runs]
    assert len(runs) == 2 and all(s[1] == "FINISHED" for s in statuses), statuses
    by_trial = {r.data.tags["trial_id"]: r for r in runs}
    domains = mutations("tripletgan", "toy")
    # whether a member copies the other depends on which reports first at a perturbation step (Ray's
    # PBT compares members that have reported there): usually one of the three rounds copies; each
    # copy recorded must be consistent (the exploit itself is tested without Ray above)
    exploits = [(r, e) for r in runs for e in json.loads(r.data.tags.get("pbt_lineage", "[]"))]
    print(f"{len(exploits)} exploit(s)")
    for run, entry in exploits:
        assert entry["copied_trial"] in by_trial and entry["copied_trial"] != run.data.tags["trial_id"]
        assert entry["copied_run"] == by_trial[entry["copied_trial"]].info.run_id
        assert entry["step"] > 0 and entry["step"] % 10 == 0  # a reported checkpoint
        for key, dom in domains.items():
            assert dom.lower <= entry["values"][key] <= dom.upper
            history = {m.step: m.value for m in client.get_metric_history(run.info.run_id, f"pbt/{key}")}
            assert history[0] == pytest.approx(json.loads(run.data.tags["searched"])[key])  # its first start
            assert history[entry["step"]] == pytest.approx(entry["values"][key])
    for run in runs:  # every member trained to the end, from its own start or a copy
        assert client.get_metric_history(run.info.run_id, "pbt/optim.lr_g")[0].step == 0
        steps = client.get_metric_history(run.info.run_id, "trained/steps")
        assert max(m.value for m in steps) == 60
    rows = json.loads((tmp_path / "studies" / "pbt" / "leaderboard.json").read_text())
    assert [r["gan"] for r in rows] == ["tripletgan"]


def test_pb2_uses_the_bounds_of_the_space_and_the_pbt_checks():
    """scheduler.type = "pb2": Ray's PB2 over the same continuous parameters, bounded by their
    ranges in the GAN's space; the population checks are PBT's."""
    from ray.tune.schedulers.pb2 import PB2

    from study.pbt import initial_population, make_pbt, mutations
    from study.study_file import StudyError, parse_study

    study = _study(type="pb2")
    population = initial_population(study, "tripletgan", 0)
    scheduler = make_pbt(study, "tripletgan", "eval/fit", "max", population)
    assert isinstance(scheduler, PB2) and study.population_based and not study.optuna_searched("tripletgan")
    bounds = {k: [d.lower, d.upper] for k, d in mutations("tripletgan", "toy").items()}
    assert scheduler._hyperparam_bounds == bounds and scheduler._perturbation_interval == 20
    base = {"name": "p", "gans": ["mbgan"], "run": {"data": {"name": "ring8"}}, "scheduler": {"type": "pb2"}}
    with pytest.raises(StudyError, match="search.repeats = 2: not available with scheduler.type = 'pb2'"):
        parse_study({**base, "search": {"repeats": 2}})
    with pytest.raises(StudyError, match="PB2 needs a population of at least 2 per GAN"):
        parse_study({**base, "search": {"samples_per_gan": 1}})


@pytest.mark.slow
def test_pb2_study_trains_its_population_to_the_end(tmp_path):
    out, state, client, runs = run_study_file(tmp_path, "pb2", STUDY.replace('name = "pbt"', 'name = "pb2"')
                                              .replace('type = "pbt"', 'type = "pb2"')
                                              .replace("resample_probability = 0.5\n", ""))
    assert len(runs) == 2 and all(r.info.status == "FINISHED" for r in runs), out[-2000:]
    bounds = {k: (d.lower, d.upper) for k, d in __import__("study.pbt").pbt.mutations("tripletgan", "toy").items()}
    for run in runs:
        assert max(m.value for m in client.get_metric_history(run.info.run_id, "trained/steps")) == 60
        for key, (low, high) in bounds.items():  # every start and every exploit stays in the space
            values = [m.value for m in client.get_metric_history(run.info.run_id, f"pbt/{key}")]
            assert values and all(low <= v <= high for v in values)

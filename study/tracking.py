"""The MLflow layer of a study: the schema (tag, metric and artifact names) and all writing.

Layout: one experiment per study (name = the study name unless set), one parent run per study
(tag ``kind=study``; params = the flat resolved study file; artifacts: ``study.yaml``, the
leaderboard), one child run per trial (:class:`TrialTracker`, opened by the Ray trainable
``study.trainable.train_gan``). The driver creates the database and the experiment before any
trial starts (on a fresh sqlite file, concurrent trials race on the schema migration), and
closes every child run (``study.callbacks.TrialRunCloser``) with the status matching how the
trial ended: FINISHED (completed, or stopped by ASHA: tag ``stop_reason``), FAILED (error).

Imports run one way: ``trainables`` <- this module <- ``study.trainable`` (Ray) <- the driver.
Nothing here imports Ray.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

from mlflow import MlflowClient
from mlflow.entities import Metric, Param
from mlflow.exceptions import MlflowException

from study.trial_spec import TrialStudy
from trainables.config import flatten
from trainables.evaluation import optimised_metric
from trainables.plots import plot_curve

# MLflow tag names of a trial's child run (the driver finds and closes runs through them).
TAG_PARENT = "mlflow.parentRunId"  # MLflow's own nesting tag
TAG_RUN_NAME = "mlflow.runName"  # MLflow's display name
TAG_TRIAL_ID = "trial_id"  # Ray Tune trial id (stable across retries and restores)
TAG_GAN = "gan"  # registered GAN name
TAG_STUDY = "study"  # study name
TAG_PRIMARY = "primary_metric"  # the metric the study optimises for this trial
TAG_MODE = "mode"  # "min" | "max"
TAG_RANK = "rank_rule"  # JSON of the trial's RankRule (which evaluation ranks it)
TAG_SEARCHED = "searched"  # JSON of the searched (flat) parameters of the trial
TAG_STOP_REASON = "stop_reason"  # completed | early_stopped | max_t | diverged | error | killed
TAG_DIVERGED_AT = "diverged_at_step"  # step whose losses were NaN/Inf or beyond optim.loss_bound
TAG_DIVERGED_LOSSES = "diverged_losses"  # JSON of those losses ("nan", "inf" as strings)
TAG_KIND = "kind"  # "study" (parent) | "trial" (child)
TAG_PLACEMENTS = "placements"  # JSON list, one entry per (re)start: node, pid, GPUs, device, step
TAG_RESUMED_FROM = "resumed_from_step"  # step of the checkpoint the latest restart loaded
TAG_REPEAT_OF = "repeat_of"  # search.repeats: trial id of the search trial whose configuration this run repeats
TAG_SEED = "seed"  # the run's training seed (run.seed)
TAG_PBT_LINEAGE = "pbt_lineage"  # JSON list, one entry per PBT exploit: step, copied trial and run, new values
TAG_LAST_ERROR = "last_error"  # "<exception type>: <message>" of the trial's last error (capped)
TAG_RESTARTS = "restarts"  # how many times the trial's worker started again (retries, restores)
TAG_DATASET = "dataset"  # data.name of the run (child) or the study (parent)
TAG_GANS = "gans"  # parent run: the study's GANs, comma-separated
TAG_CURVE_ERROR = "curve_error"  # why a child run's curve plot could not be made (the run still closes)
TAG_NOTE = "mlflow.note.content"  # MLflow's run description (Markdown): the parent run's front page
TAG_BEST_RUN_ID = "best_run_id"  # parent run: the MLflow run id of the study's best trial
TAG_BEST_GAN = "best_gan"  # parent run: that trial's GAN
TAG_RANKED_VALUE = "value"  # registered model version: the ranked value of its primary metric
TAG_RANKED_STEP = "step"  # registered model version: the step of that checkpoint
PBT_PREFIX = "pbt/"  # metrics pbt/<param>: a PBT member's hyperparameter values, logged at each (re)start step

SAMPLES_DIR = "samples"  # artifact folder of the per-evaluation sample images
CHECKPOINTS_DIR = "checkpoints"  # artifact folder holding best.pt
BEST_NAME = "best.pt"  # the best checkpoint (full payload: config + state)
PARAM_VALUE_MAX = 6000  # MLflow's limit on a param value's length (longer values are cut)
PARAM_KEY_MAX = 250  # MLflow's limit on a param key's length
CURVES_DIR = "curves"  # artifact folder of a child run's metric-curve plot
TERMINAL = ("FINISHED", "FAILED", "KILLED")  # MLflow's final run statuses


def client_for(uri: str) -> MlflowClient:
    return MlflowClient(uri)


def store_unreachable(exc: BaseException) -> bool:
    """Did ``exc`` come from a tracking store that stopped answering after MLflow's own bounded
    retries (a server refusing connections or timing out: ``requests`` errors; a database
    locked or gone: SQLAlchemy's ``OperationalError``), anywhere in its chain of causes?"""
    import requests
    import sqlalchemy.exc

    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, (requests.exceptions.ConnectionError, requests.exceptions.Timeout,
                            requests.exceptions.RetryError, sqlalchemy.exc.OperationalError)):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def mlflow_params(cfg_dict: dict) -> dict[str, str]:
    """The flat hyperparameters of a resolved config as MLflow params (values cut to
    :data:`PARAM_VALUE_MAX` characters, keys to :data:`PARAM_KEY_MAX`)."""
    out = {}
    for key, value in flatten(cfg_dict).items():
        text = json.dumps(value) if isinstance(value, (dict, list, tuple)) else str(value)
        out[key[:PARAM_KEY_MAX]] = text[:PARAM_VALUE_MAX]
    return out


def log_params(client, run_id: str, flat: dict) -> None:
    """Log a (nested or flat) dict as MLflow params (:func:`mlflow_params` flattens and cuts;
    at most 100 per batch)."""
    params = [Param(k, v) for k, v in mlflow_params(flat).items()]
    for i in range(0, len(params), 100):  # MLflow accepts at most 100 params per batch
        client.log_batch(run_id, params=params[i:i + 100])


# Params of every trial beside its searched ones: what a user compares across studies.
COMPARED_PARAMS = ("gan", "data.name", "net.arch", "steps", "hparams.variant")
CONFIG_ARTIFACT = "config.yaml"  # the full resolved run config of a trial, top-level artifact
BEST_SAMPLES = "best_samples.png"  # samples of the trial's ranked checkpoint, top-level artifact


def trial_params(cfg_dict: dict, point: dict) -> dict:
    """A trial's MLflow params: :data:`COMPARED_PARAMS` and its searched keys, at their resolved
    values (the rest of the config is the ``config.yaml`` artifact: the runs table stays readable)."""
    flat = flatten(cfg_dict)
    return {k: flat[k] for k in (*COMPARED_PARAMS, *sorted(point)) if k in flat}


def log_config(client, run_id: str, cfg_dict: dict) -> None:
    """The full resolved run config as the run's ``config.yaml`` artifact."""
    import yaml

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / CONFIG_ARTIFACT
        path.write_text(yaml.safe_dump(cfg_dict, sort_keys=False))
        client.log_artifact(run_id, str(path))


def run_name(gan: str, index: int | None, trial_name: str, seed: int | None = None) -> str:
    """A trial's MLflow run name: ``<gan> #<k>`` (its k-th trial of the study; the Tune trial
    id is the ``trial_id`` tag), ``<gan> #<k> seed <s>`` for a repeat of trial k with seed s
    (``search.repeats``), or Tune's trial name outside a study sweep."""
    if index is None:
        return trial_name
    return f"{gan} #{index}" + (f" seed {seed}" if seed is not None else "")


def find_trial_run(client, experiment_id: str, parent_run_id: str, trial_id: str):
    """The MLflow child run of ``trial_id`` under the parent run (None if not created)."""
    runs = client.search_runs(
        [experiment_id],
        filter_string=f"tags.{TAG_TRIAL_ID} = '{trial_id}' and tags.`{TAG_PARENT}` = "
                      f"'{parent_run_id}'",
        max_results=1)
    return runs[0] if runs else None


def ended_trial_run(study: TrialStudy, trial_id: str):
    """The trial's MLflow child run if the driver already closed it as ended (FINISHED, or
    FAILED with ``stop_reason = diverged``), else None.

    A driver SIGKILLed after a trial ended but before Tune's next experiment snapshot leaves
    that trial RUNNING in the snapshot; the restored sweep starts it again. Such a trial must
    not train again (nor count a restart, nor report: Optuna refuses values for a finished
    trial, which would abort the sweep); it returns at once."""
    run = find_child(study.tracking_uri, study.experiment_id, study.parent_run_id, trial_id)
    if run is None:
        return None
    reason = run.data.tags.get(TAG_STOP_REASON)
    if run.info.status == "FINISHED" or (run.info.status == "FAILED" and reason == "diverged"):
        return run
    return None


class TrialTracker:
    """The MLflow child run of one trial: created once, reused on every restart.

    The run is found by the id stored in the checkpoint, else by the ``trial_id`` tag under the
    parent run, else created (tags: parent, GAN, trial id, study, primary metric; params: the
    flat resolved config). ``high_water[key]`` is the last step already logged for each metric
    key; points at or below it are never logged again (a resumed trial replays the steps after
    its checkpoint, which may already be in MLflow).
    """

    def __init__(self, study: TrialStudy, trial_id: str, trial_name: str, cfg, point: dict,
                 run_id: str | None = None):
        # the driver resolves (metric, mode) once; a spec without a mode resolves it here
        self.metric, self.mode = ((study.metric, study.mode) if study.metric and study.mode
                                  else optimised_metric(cfg, study.metric))
        self.rank = study.rank_rule()  # which evaluation ranks the trial
        self.client = MlflowClient(study.tracking_uri)
        self.study = study
        self.loss_every, self.flush_every = study.loss_every, study.flush_every
        self.buffer: list = []
        self.last_flush_step = 0
        self.run_id = run_id or self._find(trial_id)
        self.high_water: dict[str, int] = {}
        self.reused = self.run_id is not None  # a restart: some points may already be logged
        if self.run_id is None:
            self.run_id = self._create(trial_id, trial_name, cfg, point)
        else:
            self.client.update_run(self.run_id, status="RUNNING")
            self.client.set_tag(self.run_id, TAG_RESTARTS, str(self._restarts() + 1))

    def _find(self, trial_id: str) -> str | None:
        run = find_trial_run(self.client, self.study.experiment_id, self.study.parent_run_id, trial_id)
        return run.info.run_id if run else None

    def _restarts(self) -> int:
        return int(self.client.get_run(self.run_id).data.tags.get(TAG_RESTARTS, "0"))

    def _create(self, trial_id: str, trial_name: str, cfg, point: dict) -> str:
        metric, mode = self.metric, self.mode
        tags = {TAG_PARENT: self.study.parent_run_id, TAG_TRIAL_ID: trial_id,
                TAG_GAN: cfg.gan, TAG_STUDY: self.study.study_name, TAG_PRIMARY: metric,
                TAG_MODE: mode, TAG_SEARCHED: json.dumps(point, sort_keys=True)[:PARAM_VALUE_MAX],
                TAG_KIND: "trial", TAG_DATASET: cfg.data.name, TAG_SEED: str(cfg.seed),
                TAG_RANK: json.dumps(self.rank.to_dict())}
        repeat_of = self.study.repeat_of
        if repeat_of:
            tags[TAG_REPEAT_OF] = repeat_of
        name = run_name(cfg.gan, self.study.trial_index, trial_name, cfg.seed if repeat_of else None)
        run = self.client.create_run(self.study.experiment_id, tags=tags, run_name=name)
        log_params(self.client, run.info.run_id, trial_params(cfg.to_dict(), point))
        log_config(self.client, run.info.run_id, cfg.to_dict())
        return run.info.run_id

    def load_high_water(self, keys) -> None:
        """Read the last logged step of each metric key (only needed for a reused run)."""
        for key in keys:
            history = self.client.get_metric_history(self.run_id, key)
            if history:
                self.high_water[key] = max(m.step for m in history)

    def _add(self, key: str, value: float, step: int, timestamp: int) -> None:
        if step > self.high_water.get(key, -1):
            self.buffer.append(Metric(key, float(value), timestamp, int(step)))

    def on_losses(self, step: int, losses: dict) -> None:
        """Buffer the losses of a step (every ``loss_every`` steps); flush every ``flush_every``."""
        if step % self.loss_every == 0:
            ts = int(time.time() * 1000)
            for key, value in losses.items():
                self._add(key, value, step, ts)
        if step - self.last_flush_step >= self.flush_every:
            self.flush(step)

    def log_metrics(self, metrics: dict, step: int) -> None:
        """Buffer a dict of metrics at ``step`` (flushed by the caller)."""
        ts = int(time.time() * 1000)
        for key, value in metrics.items():
            self._add(key, value, step, ts)

    def flush(self, step: int | None = None) -> None:
        """Send the buffered points in ``log_batch`` calls (<= 1000 metrics each)."""
        while self.buffer:
            chunk, self.buffer = self.buffer[:1000], self.buffer[1000:]
            self.client.log_batch(self.run_id, metrics=chunk)
            for m in chunk:
                self.high_water[m.key] = max(self.high_water.get(m.key, -1), m.step)
        if step is not None:
            self.last_flush_step = step

    def log_artifact(self, path: Path, folder: str | None = None) -> None:
        """``path`` into the run's artifact ``folder`` (None: the top level)."""
        self.client.log_artifact(self.run_id, str(path), folder)

    def set_tags(self, tags: dict[str, str]) -> None:
        for key, value in tags.items():
            self.client.set_tag(self.run_id, key, value)

    def list_tag(self, key: str) -> list:
        """The JSON list in tag ``key`` (empty when unset)."""
        return json.loads(self.client.get_run(self.run_id).data.tags.get(key) or "[]")

    def set_list_tag(self, key: str, entries: list) -> None:
        """Tag ``key`` = the JSON list ``entries``, dropping the oldest entries while the value is
        longer than MLflow's cap (``PARAM_VALUE_MAX``)."""
        entries = list(entries)
        while len(json.dumps(entries)) > PARAM_VALUE_MAX and len(entries) > 1:
            entries.pop(0)
        self.client.set_tag(self.run_id, key, json.dumps(entries))

    def append_to_tag(self, key: str, entry: dict) -> None:
        """Append ``entry`` to the JSON list in tag ``key`` (capped as in :meth:`set_list_tag`)."""
        self.set_list_tag(key, self.list_tag(key) + [entry])

    def log_now(self, metrics: dict[str, float], step: int) -> None:
        """Log ``metrics`` at ``step`` at once, past the one-value-per-step rule of ``high_water``
        (a PBT exploit at a step already logged logs its new values at that same step)."""
        ts = int(time.time() * 1000)
        self.client.log_batch(self.run_id, metrics=[Metric(k, float(v), ts, int(step)) for k, v in metrics.items()])

    def record_error(self, exc: BaseException) -> None:
        """``last_error`` = the exception's type and message (capped); never raises (a tracking error
        must not hide the trial's own)."""
        try:
            self.client.set_tag(self.run_id, TAG_LAST_ERROR, f"{type(exc).__name__}: {exc}"[:5000])
        except Exception:
            pass


def ensure_experiment(uri: str, name: str, artifact_root: Path | None) -> str:
    """Create (or find) the experiment ``name``; on a fresh sqlite URI this creates the
    database too. ``artifact_root`` (absolute) is where a sqlite-backed study keeps artifacts;
    with a tracking server it is None and the server decides. Returns the experiment id."""
    client = client_for(uri)
    exp = client.get_experiment_by_name(name)
    if exp is not None:
        if exp.lifecycle_stage == "deleted":
            client.restore_experiment(exp.experiment_id)
        return exp.experiment_id
    location = None if artifact_root is None else Path(artifact_root).resolve().as_uri()
    return client.create_experiment(name, artifact_location=location)


def start_parent(uri: str, experiment_id: str, study, resolved_file: Path) -> str:
    """Open the study's parent run: tags, flat study params, the resolved study file."""
    client = client_for(uri)
    run = client.create_run(experiment_id, run_name=study.name,
                            tags={TAG_KIND: "study", TAG_STUDY: study.name,
                                  TAG_GANS: ",".join(study.gans), TAG_DATASET: study.dataset_name})
    log_params(client, run.info.run_id, study.to_dict())
    client.log_artifact(run.info.run_id, str(resolved_file))
    return run.info.run_id


def children(uri: str, experiment_id: str, parent_run_id: str, gan: str | None = None) -> list:
    """All child runs of the parent (optionally of one GAN), oldest first."""
    client = client_for(uri)
    query = f"tags.`{TAG_PARENT}` = '{parent_run_id}'"
    if gan is not None:
        query += f" and tags.{TAG_GAN} = '{gan}'"
    runs, token = [], None
    while True:
        page = client.search_runs([experiment_id], filter_string=query, max_results=1000,
                                  order_by=["attributes.start_time ASC"], page_token=token)
        runs.extend(page)
        token = page.token
        if not token:
            return runs


def find_child(uri: str, experiment_id: str, parent_run_id: str, trial_id: str):
    """The child run of ``trial_id`` (the trainable's own lookup), None if not created."""
    return find_trial_run(client_for(uri), experiment_id, parent_run_id, trial_id)


def log_curve(uri: str, run_id: str, metric: str | None = None) -> Path | None:
    """Plot the primary metric curve of a child run (from its MLflow history) as an artifact
    ``curves/<metric>.png``; returns the local file (None when nothing was logged)."""
    client = client_for(uri)
    run = client.get_run(run_id)
    metric = metric or run.data.tags.get(TAG_PRIMARY)
    if not metric:
        return None
    history = sorted((m.step, m.value) for m in client.get_metric_history(run_id, metric))
    if not history:
        return None
    out = Path(tempfile.mkdtemp(prefix="curve-")) / f"{metric.replace('/', '_')}.png"
    plot_curve({metric: history}, out, title=run.info.run_name or run_id)
    client.log_artifact(run_id, str(out), CURVES_DIR)
    return out


def close_run(uri: str, run_id: str, status: str, reason: str, *, curve: bool = True) -> None:
    """Tag ``stop_reason``, log the curve plot and set the final ``status`` of a child run."""
    client = client_for(uri)
    client.set_tag(run_id, TAG_STOP_REASON, reason)
    if curve:
        try:
            log_curve(uri, run_id)
        except Exception as exc:  # a plot must never leave the run RUNNING
            client.set_tag(run_id, TAG_CURVE_ERROR, str(exc)[:500])
    client.set_terminated(run_id, status)


def kill_running(uri: str, experiment_id: str, parent_run_id: str) -> int:
    """Mark every still-RUNNING child KILLED (interrupted study); returns how many. A resumed
    trial sets its run back to RUNNING."""
    client, n = client_for(uri), 0
    for run in children(uri, experiment_id, parent_run_id):
        if run.info.status == "RUNNING":
            client.set_tag(run.info.run_id, TAG_STOP_REASON, "killed")
            client.set_terminated(run.info.run_id, "KILLED")
            n += 1
    return n


def register_best(uri: str, name: str, row: dict) -> int:
    """Register the best child run's ``checkpoints/`` artifact folder (holding ``best.pt``) as
    a new version of the registered model ``name``; ``row`` is its leaderboard row (the version's
    tags: GAN, primary metric, its ranked value and step, trial id); returns the version number.

    MLflow 3's ``mlflow.register_model`` wants a logged model; a plain artifact folder is
    registered with ``MlflowClient.create_model_version(source="runs:/<id>/checkpoints")``,
    which works on sqlite stores and downloads with ``models:/<name>/<version>``.
    """
    client = client_for(uri)
    try:
        client.create_registered_model(name, description="Best generator of the study (best.pt: "
                                                         "config + state; GanRun.from_checkpoint)")
    except MlflowException:
        pass  # already registered: add a version
    tags = {TAG_GAN: row["gan"], TAG_PRIMARY: row["metric"], TAG_RANKED_VALUE: row["value"],
            TAG_RANKED_STEP: row["step"], TAG_TRIAL_ID: row["trial_id"]}
    version = client.create_model_version(name, source=f"runs:/{row['run_id']}/{CHECKPOINTS_DIR}",
                                          run_id=row["run_id"],
                                          tags={k: str(v)[:PARAM_VALUE_MAX] for k, v in tags.items()})
    return int(version.version)

"""The study file: one TOML or YAML document describing a whole sweep, validated up front.

Everything is checked here, before Ray starts: unknown keys and wrong types are
:class:`StudyError` naming the dotted field (``scheduler.grace_period``, ``run.optim.lr_x``),
and every GAN's base run config and its first point (the paper defaults, or every grid point)
are resolved with the training loop's own validation. Relative paths (``storage_path``,
``run.data.root``, ``run.eval.cache_dir`` / ``weights_path``) are relative to the current working
directory and stored absolute (trials run in temporary directories).

``[run]`` is the run config of ``trainables.config`` under its own names (the keys
``python -m trainables.train --set`` takes), so a setting has one name everywhere; only ``gan``
comes from ``gans`` and ``hparams`` holds one mapping per GAN. Unset keys take the defaults of the
GAN and its data family. Files written before this layout keep working: ``[dataset]`` is read as
``[run.data]``, ``budget.max_steps`` as ``run.steps`` and ``budget.eval_every`` as
``run.eval.every`` (errors then name the key as written).

Layout (every section and key optional except ``name``)::

    name = "quickstart"
    gan_modules = ["my_pkg.my_gan"]   # GANs defined outside trainables/gans (importable on every node)
    gans = ["metric_learning"]        # registered names; "metric_learning" = all five seeds
    storage_path = "./studies"        # the study lives in <storage_path>/<name>/ (or s3://, gs://)
    local_path = "./studies"          # with a URI storage_path: the driver's state/optuna.db/leaderboard
    ray_address = "local"             # local | auto | ray://host:port | host:port
    max_concurrent = 2                # trials running at once, all GANs together (default: what the cluster holds)
    max_failures = 1                  # retries of a crashed trial (from its last checkpoint)
    [run]       steps (a full-budget trial), seed, device
    [run.data]  name, mixture (name = "mixture": {kind = ring|grid|means, ...}), root, download,
                batch_size, image_size, num_workers, max_items
    [run.eval]  every (evaluation and Tune report interval), num_samples, extractor, ...
    [run.ema]   halflife_kimg (generator EMA half-life, thousands of images; 0 = off), rampup, bn_stats
    [run.perf]  amp (none | bf16), channels_last (conv nets), compile (torch.compile of G and D)
    [run.net], [run.optim], [run.hparams.<gan>]
    [search]    samples_per_gan, sampler (tpe|random), seed, grid (name or {key = [values]}),
                metric (toy default eval/fit, images eval/fid), rank_by (best|final|last_k_mean),
                rank_k, rank_after (default: the first ASHA rung), repeats (new seeds for each of
                the top_k configurations of every GAN, after the search; default 0), top_k
    [scheduler] type (asha|pbt|none), grace_period, reduction_factor, max_t (steps);
                pbt: perturbation_interval (steps), quantile_fraction, resample_probability
    [resources] cpu, gpu (per trial; fractions allowed)
    [mlflow]    tracking_uri, experiment, loss_every, flush_every, register_model
"""

from __future__ import annotations

import dataclasses
import json
import re
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import yaml

import search_spaces
from search_spaces import grids
from trainables.config import (DATA_FAMILIES, ConfigError, DataConfig, EvalConfig, RunConfig, build_dataclass,
                               deep_merge, resolve_config)
from trainables.evaluation import IMAGE_KEYS, TOY_KEYS
from trainables.ranking import RankRule
from trainables.registry import GANS, PLUGIN_MODULES, load_gan_modules, metric_learning_gans
from trainables.schema import bound, check_field

METRIC_LEARNING = "metric_learning"  # shorthand in `gans` for every metric-learning GAN
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")  # study names (dir + MLflow)
RUN_SECTIONS = ("net", "optim", "eval", "ema", "perf")  # base-run sections applied to every GAN


class StudyError(ValueError):
    """A one-line error about the study file, naming the field (dotted path)."""


@dataclass(frozen=True)
class RunSection:
    """Every trial's run config under the run config's own names (``trainables.config``); keys
    left out take the GAN's and the data family's defaults."""

    steps: int | None = field(default=None, metadata=bound(ge=1))  # iterations of a full-budget trial
    seed: int = 0  # seed of every trial (nets, data, noise): trials differ by hyperparameters only
    device: str = "auto"  # auto | cpu | cuda[:i] (auto = CUDA when the trial was given a GPU)
    data: dict = field(default_factory=dict)  # DataConfig: name, mixture, root, batch_size, ...
    net: dict = field(default_factory=dict)  # NetConfig overrides for every GAN
    optim: dict = field(default_factory=dict)  # OptimConfig overrides (searched keys still win)
    eval: dict = field(default_factory=dict)  # EvalConfig: every (evaluation + Tune report interval), ...
    ema: dict = field(default_factory=dict)  # EmaConfig: halflife_kimg (0 = off), rampup, bn_stats (copy | standing)
    perf: dict = field(default_factory=dict)  # PerfConfig: amp (none | bf16), channels_last, compile
    hparams: dict = field(default_factory=dict)  # {gan: {hparam: value}} per-GAN overrides


@dataclass(frozen=True)
class SearchSection:
    samples_per_gan: int | None = field(default=None, metadata=bound(gt=0))  # trials per GAN (default 8); not with `grid`
    sampler: Literal["tpe", "random"] = "tpe"  # Optuna sampler
    seed: int = 0  # sampler seed (a parallel study is still not bit-reproducible)
    grid: Any = None  # a named grid (search_spaces.grids.GRIDS) or {dotted key: [values]}
    metric: str | None = None  # metric to optimise (default: the dataset's primary, eval/fit or eval/fid)
    rank_by: Literal["best", "final", "last_k_mean"] = "best"  # which evaluation ranks a trial
    rank_k: int = field(default=3, metadata=bound(ge=1))  # evaluations averaged by rank_by = "last_k_mean"
    rank_after: int | None = field(default=None, metadata=bound(ge=0))  # earlier evaluations never rank (default: first rung)
    repeats: int = field(default=0, metadata=bound(ge=0))  # after the search: new seeds per top_k configuration of each GAN
    top_k: int = field(default=1, metadata=bound(ge=1))  # configurations of each GAN that `repeats` retrains


@dataclass(frozen=True)
class SchedulerSection:
    type: Literal["asha", "pbt", "none"] = "asha"  # ASHA early stopping, Population Based Training, or FIFO
    grace_period: int | None = field(default=None, metadata=bound(gt=0))  # steps before a trial can be stopped (default: run.eval.every)
    reduction_factor: float = field(default=3.0, metadata=bound(gt=1))  # ASHA keeps the top 1/reduction_factor at each rung
    max_t: int | None = None  # steps of a full trial for ASHA (default: run.steps)
    perturbation_interval: int | None = field(default=None, metadata=bound(gt=0))  # pbt: steps between exploit/explore (default: 2 x run.eval.every)
    quantile_fraction: float = field(default=0.25, metadata=bound(gt=0, le=0.5))  # pbt: the bottom fraction copies the top fraction
    resample_probability: float = field(default=0.25, metadata=bound(ge=0, le=1))  # pbt: a perturbed value is redrawn from its range (else x0.8 / x1.2)


@dataclass(frozen=True)
class ResourcesSection:
    cpu: float = field(default=1.0, metadata=bound(gt=0))  # CPUs per trial (also torch's thread count)
    gpu: float = field(default=0.0, metadata=bound(ge=0))  # GPUs per trial (0.25 = four trials share one device)


@dataclass(frozen=True)
class MlflowSection:
    tracking_uri: str | None = None  # default sqlite:///<study dir>/mlflow.db
    experiment: str | None = None  # experiment name (default: the study name)
    loss_every: int = field(default=1, metadata=bound(ge=1))  # log the losses of every n-th step
    flush_every: int = field(default=50, metadata=bound(ge=1))  # steps between two log_batch calls of the losses
    register_model: bool = True  # register the study's best generator under the study name


@dataclass(frozen=True)
class StudyFile:
    name: str
    gans: tuple = ()
    gan_modules: tuple = ()  # modules defining GANs outside trainables/gans (each exposes GAN = GanSpec(...))
    run: RunSection = field(default_factory=RunSection)
    search: SearchSection = field(default_factory=SearchSection)
    scheduler: SchedulerSection = field(default_factory=SchedulerSection)
    resources: ResourcesSection = field(default_factory=ResourcesSection)
    mlflow: MlflowSection = field(default_factory=MlflowSection)
    storage_path: str = "./studies"  # parent folder of the study directory, or a URI (s3://, gs://)
    local_path: str = "./studies"  # driver-side study folder's parent when storage_path is a URI
    ray_address: str = "local"  # local | auto | ray://host:port | host:port
    max_concurrent: int | None = field(default=None, metadata=bound(ge=1))  # trials at once, all GANs together; None: as many as the cluster's nodes hold
    max_failures: int = field(default=1, metadata=bound(ge=0))  # retries of a crashed trial

    # -- derived ------------------------------------------------------------------------------
    @property
    def data(self) -> dict:
        """The study's ``run.data`` (dataset settings, as given)."""
        return self.run.data

    @property
    def dataset_name(self) -> str:
        return self.run.data.get("name", DataConfig.name)

    @property
    def max_steps(self) -> int:
        """Steps of a full-budget trial: ``run.steps`` or the run config's default."""
        return self.run.steps if self.run.steps is not None else RunConfig.steps

    @property
    def eval_every(self) -> int:
        """Evaluation (and Tune report) interval: ``run.eval.every`` or the run config's default."""
        return self.run.eval.get("every", EvalConfig.every)

    @property
    def family(self) -> str:
        return DATA_FAMILIES[self.dataset_name]

    @property
    def remote_storage(self) -> bool:
        """True when ``storage_path`` is a URI (Tune writes trials and checkpoints there; the
        driver keeps the state file, ``optuna.db`` and the leaderboard under ``local_path``)."""
        return is_uri(self.storage_path)

    @property
    def study_dir(self) -> Path:
        """The driver's study directory (state file, optuna.db, leaderboard, sqlite MLflow)."""
        return Path(self.local_path if self.remote_storage else self.storage_path) / self.name

    @property
    def tune_storage(self) -> str:
        """Where Tune keeps the sweeps (``<tune_storage>/<gan>/``): the study directory, or
        ``<storage_path URI>/<name>`` (any node can restore a trial's checkpoints from there)."""
        if self.remote_storage:
            return f"{self.storage_path.rstrip('/')}/{self.name}"
        return str(self.study_dir.resolve())

    @property
    def tracking_uri(self) -> str:
        return self.mlflow.tracking_uri or f"sqlite:///{self.study_dir.resolve()}/mlflow.db"

    @property
    def experiment_name(self) -> str:
        return self.mlflow.experiment or self.name

    @property
    def samples(self) -> int:
        return self.search.samples_per_gan or 8  # default trials per GAN

    @property
    def grace_period(self) -> int:
        return self.scheduler.grace_period or self.eval_every

    @property
    def max_t(self) -> int:
        return self.scheduler.max_t or self.max_steps

    def optuna_searched(self, gan: str) -> bool:
        """Does ``gan`` have an Optuna study (``<study>-<gan>`` in ``optuna.db``)? Not for a grid
        or a PBT population (drawn once, no searcher)."""
        return self.scheduler.type != "pbt" and self.grid_points(gan) is None

    @property
    def perturbation_interval(self) -> int:
        """PBT's exploit/explore interval in steps (a multiple of the evaluation interval: a
        trial can only be copied at a reported checkpoint)."""
        return self.scheduler.perturbation_interval or 2 * self.eval_every

    @property
    def asha_rungs(self) -> list[int]:
        """ASHA's milestones: grace_period * reduction_factor^k below max_t."""
        rungs, t = [], float(self.grace_period)
        while t < self.max_t:
            rungs.append(int(t))
            t *= self.scheduler.reduction_factor
        return rungs

    def rank_rule(self):
        """The trials' :class:`~trainables.ranking.RankRule`: ``search.rank_by`` / ``rank_k``, and
        ``rank_after`` defaulting to the first ASHA rung (the grace period; with no scheduler, the
        first evaluation after step 0): an untrained generator never ranks."""
        after = self.search.rank_after
        if after is None:
            after = self.grace_period if self.scheduler.type == "asha" else 1
        return RankRule(by=self.search.rank_by, k=self.search.rank_k, after=after)

    def to_dict(self) -> dict:
        """Plain nested dict (every default filled in); ``parse_study(to_dict())`` gives it back."""
        out = dataclasses.asdict(self)
        out["gans"] = list(self.gans)
        out["gan_modules"] = list(self.gan_modules)
        return out

    def base_run(self, gan: str) -> dict:
        """The nested base run config of ``gan`` (before its searched point is applied)."""
        run = self.run
        config = {"gan": gan, "data": {**run.data, "name": self.dataset_name}, "steps": self.max_steps,
                  "seed": run.seed, "device": run.device, "net": dict(run.net), "optim": dict(run.optim),
                  "eval": {**run.eval, "every": self.eval_every}, "ema": dict(run.ema),
                  "perf": dict(run.perf), "hparams": dict(run.hparams.get(gan, {}))}
        if gan in PLUGIN_MODULES:  # self-describing: the trial, its checkpoints and config.json name it
            config["gan_module"] = PLUGIN_MODULES[gan]
        if "num_workers" not in run.data:  # the main process keeps one of the trial's CPUs
            config["data"]["num_workers"] = max(0, int(self.resources.cpu) - 1)
        if config["device"] == "auto" and self.resources.gpu == 0:
            config["device"] = "cpu"  # a trial without a GPU share must not grab a visible one
        return config

    def grid_points(self, gan: str) -> list[dict] | None:
        """The grid of ``gan`` (list of flat points) or None for an Optuna search."""
        grid = self.search.grid
        if grid is None:
            return None
        if isinstance(grid, str):
            return grids.get_grid(grid, gan)
        return grids.expand_grid(dict(grid))


# -- parsing -----------------------------------------------------------------------------------
STUDY_FIELDS = {f.name: f for f in dataclasses.fields(StudyFile)}
SECTION_TYPES = {"run": RunSection, "search": SearchSection, "scheduler": SchedulerSection,
                 "resources": ResourcesSection, "mlflow": MlflowSection}
READERS = {".toml": "toml", ".yaml": "yaml", ".yml": "yaml", ".json": "json"}


def read_document(path: str | Path) -> dict:
    """Parse a TOML / YAML / JSON file into a dict (by extension); one-line StudyError on failure."""
    path = Path(path)
    kind = READERS.get(path.suffix.lower())
    if kind is None:
        raise StudyError(f"{path}: unknown study file type; use one of {', '.join(READERS)}")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise StudyError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except UnicodeDecodeError as exc:
        raise StudyError(f"{path}: not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset "
                         f"{exc.start}); save the study file as UTF-8") from None
    try:
        data = _PARSERS[kind](text)
    except Exception as exc:  # tomllib.TOMLDecodeError, yaml.YAMLError, json.JSONDecodeError
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise StudyError(f"{path}: invalid {kind.upper()} ({first})") from None
    if not isinstance(data, dict):
        raise StudyError(f"{path}: expected a mapping at the top level")
    return data


def _toml(text: str) -> dict:
    return tomllib.loads(text)


def _yaml(text: str) -> dict:
    return yaml.safe_load(text) or {}


def _json(text: str) -> dict:
    return json.loads(text)


_PARSERS = {"toml": _toml, "yaml": _yaml, "json": _json}


def load_study(path: str | Path, *, smoke_test: bool = False) -> StudyFile:
    """Read, validate and resolve a study file (see :func:`parse_study`)."""
    return parse_study(read_document(path), smoke_test=smoke_test)


def parse_study(doc: dict, *, smoke_test: bool = False) -> StudyFile:
    """Validate a study document into a :class:`StudyFile` with absolute paths.

    ``smoke_test`` shrinks the budget (:func:`smoke_overrides`) before validation. Raises
    :class:`StudyError` (one line, dotted field name as written) on any problem.
    """
    if not isinstance(doc, dict):
        raise StudyError(f"study: expected a mapping, got {type(doc).__name__}")
    doc, renamed = legacy_layout(doc)
    try:
        return _parse(smoke_overrides(doc) if smoke_test else doc)
    except StudyError as exc:
        raise StudyError(_as_written(str(exc), renamed)) from None


def _parse(doc: dict) -> StudyFile:
    unknown = sorted(set(doc) - set(STUDY_FIELDS))
    if unknown:
        raise StudyError(f"{unknown[0]}: unknown key; accepted keys are {', '.join(STUDY_FIELDS)}")
    if "name" not in doc:
        raise StudyError("name: missing; give the study a name")
    try:
        modules = doc.get("gan_modules", [])
        load_gan_modules(modules)  # first: `gans` may name the GANs they define
        values = {"gan_modules": tuple(modules)}
        for key, value in doc.items():
            if key in SECTION_TYPES:
                values[key] = build_dataclass(SECTION_TYPES[key], value, key)
            elif key == "gan_modules":
                continue
            elif key == "gans":
                values[key] = _parse_gans(value)
            else:
                values[key] = check_field(key, value, STUDY_FIELDS[key], typing.get_type_hints(StudyFile)[key])
    except ConfigError as exc:
        raise StudyError(str(exc)) from None
    values.setdefault("gans", _parse_gans([METRIC_LEARNING]))
    study = StudyFile(**values)
    study = _absolute_paths(study)
    validate_study(study)
    return study


# Keys of the layout before [run] held the whole run config: old name -> the run config's name.
LEGACY_KEYS = {"dataset": "run.data", "budget.max_steps": "run.steps", "budget.eval_every": "run.eval.every"}


def legacy_layout(doc: dict) -> tuple[dict, dict]:
    """``doc`` with ``[dataset]`` / ``[budget]`` moved under ``[run]`` (see the module docstring),
    and ``{new name: old name}`` of what moved (errors name a key as the user wrote it)."""
    if "dataset" not in doc and "budget" not in doc:
        return doc, {}
    doc, renamed = dict(doc), {}
    run = doc.get("run", {})
    if not isinstance(run, dict):
        return doc, {}  # let validation report `run`
    run = dict(run)
    if "dataset" in doc:
        if "data" in run:
            raise StudyError("dataset: also given as run.data; keep one ([dataset] is the old name of [run.data])")
        run["data"] = doc.pop("dataset")
        renamed["run.data"] = "dataset"
    budget = doc.pop("budget", None)
    if budget is not None:
        if not isinstance(budget, dict):
            raise StudyError(f"budget: expected a mapping, got {type(budget).__name__}")
        for key, value in budget.items():
            target = LEGACY_KEYS.get(f"budget.{key}")
            if target is None:
                raise StudyError(f"budget.{key}: unknown key; accepted keys are max_steps, eval_every "
                                 f"(now run.steps, run.eval.every)")
            section, _, name = target[len("run."):].rpartition(".")
            holder = run if not section else run.setdefault(section, {})
            if not isinstance(holder, dict) or name in holder:
                raise StudyError(f"budget.{key}: also given as {target}; keep one ({target} is its name now)")
            holder[name] = value
            renamed[target] = f"budget.{key}"
    doc["run"] = run
    return doc, renamed


def _as_written(message: str, renamed: dict) -> str:
    """``message`` naming a moved key by the name the user wrote (``run.data.x`` -> ``dataset.x``)."""
    for new, old in sorted(renamed.items(), key=lambda kv: -len(kv[0])):
        if message == new or message.startswith((new + ".", new + " ", new + ":")):
            return old + message[len(new):]
    return message


def _parse_gans(value) -> tuple:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise StudyError(f"gans = {value!r}: expected a non-empty list of GAN names")
    out: list[str] = []
    for i, name in enumerate(value):
        if name == METRIC_LEARNING:
            names = metric_learning_gans()
        elif isinstance(name, str) and name in GANS:
            names = [name]
        else:
            raise StudyError(f"gans[{i}] = {name!r}: unknown GAN; accepted values are "
                             f"{METRIC_LEARNING}, {', '.join(GANS)}")
        out.extend(n for n in names if n not in out)
    return tuple(out)


URI_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")  # s3://bucket/x, gs://bucket/x, ...


def is_uri(path: str) -> bool:
    return bool(URI_PATTERN.match(path))


def _abs(path: str | None) -> str | None:
    if path is None or is_uri(path):
        return path
    return str(Path(path).expanduser().resolve())


def _absolute_paths(study: StudyFile) -> StudyFile:
    data, ev = dict(study.run.data), dict(study.run.eval)
    if isinstance(data.get("root"), str):
        data["root"] = _abs(data["root"])
    for key in ("cache_dir", "weights_path"):
        if isinstance(ev.get(key), str):
            ev[key] = _abs(ev[key])
    run = dataclasses.replace(study.run, data=data, eval=ev)
    return dataclasses.replace(study, run=run, storage_path=_abs(study.storage_path),
                               local_path=_abs(study.local_path))


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise StudyError(message)


def validate_study(study: StudyFile) -> None:
    """Cross-field checks, then resolve every GAN's base config and first point(s)."""
    _check(bool(NAME_PATTERN.match(study.name)),
           f"name = {study.name!r}: use letters, digits, '_', '-', '.' (max 100 characters)")
    _check(isinstance(study.dataset_name, str) and study.dataset_name in DATA_FAMILIES,
           f"run.data.name = {study.dataset_name!r}: accepted values are {', '.join(DATA_FAMILIES)}")
    _validate_budget(study)
    _validate_cluster(study)
    _validate_search(study)
    for gan in study.gans:
        _validate_gan(study, gan)


def _validate_budget(study: StudyFile) -> None:
    """Steps and evaluation interval, scheduler, per-GAN run overrides."""
    s, sch = study.search, study.scheduler
    if "every" in study.run.eval:  # its type and range first: the checks below compare it
        try:
            build_dataclass(EvalConfig, {"every": study.run.eval["every"]}, "run.eval")
        except ConfigError as exc:
            raise StudyError(str(exc)) from None
    _check(study.eval_every <= study.max_steps,
           f"run.eval.every = {study.eval_every}: must be <= run.steps ({study.max_steps})")
    if s.samples_per_gan is not None:
        _check(s.grid is None, "search.samples_per_gan: not used with search.grid "
                               "(every grid point runs once); remove one of them")
    if sch.max_t is not None:
        _check(0 < sch.max_t <= study.max_steps,
               f"scheduler.max_t = {sch.max_t}: must be in [1, run.steps = {study.max_steps}]")
    _check(study.grace_period <= study.max_t,
           f"scheduler.grace_period = {study.grace_period}: must be <= scheduler.max_t ({study.max_t})")
    if sch.type == "pbt":
        _check(study.perturbation_interval % study.eval_every == 0,
               f"scheduler.perturbation_interval = {study.perturbation_interval}: must be a multiple of "
               f"run.eval.every ({study.eval_every}): PBT copies trials at their reported checkpoints")
        _check(not s.repeats, f"search.repeats = {s.repeats}: not available with scheduler.type = 'pbt' "
                              "(a PBT member's hyperparameters are a schedule, not a configuration); use 0")
    unknown = sorted(set(study.run.hparams) - set(study.gans))
    _check(not unknown, f"run.hparams.{unknown[0] if unknown else ''}: not a GAN of this study "
                        f"({', '.join(study.gans)})")
    for gan, hp in study.run.hparams.items():
        _check(isinstance(hp, dict), f"run.hparams.{gan}: expected a mapping")


def _validate_cluster(study: StudyFile) -> None:
    """Ray address and MLflow tracking URI (numeric ranges are declared on the fields)."""
    addr = study.ray_address
    _check(addr in ("local", "auto") or addr.startswith("ray://") or re.match(r"^[\w.-]+:\d+$", addr),
           f"ray_address = {addr!r}: accepted values are local, auto, ray://host:port, host:port")
    uri = study.mlflow.tracking_uri
    if uri is not None:
        _check(re.match(r"^(sqlite|https?|postgresql|mysql|databricks)[:+]", uri) is not None,
               f"mlflow.tracking_uri = {uri!r}: use sqlite:///<abs path>, http(s)://host:port or a "
               f"database URI (file: stores are refused by MLflow 3)")

        _check(urlsplit(uri).password is None,
               "mlflow.tracking_uri: a password in the URI is refused (it would be stored in the "
               "study file, state and MLflow); set MLFLOW_TRACKING_USERNAME/MLFLOW_TRACKING_PASSWORD "
               "(server) or PGPASSWORD (database) instead")


def _validate_search(study: StudyFile) -> None:
    """Grid, rank rule and metric of the search."""
    s = study.search
    if isinstance(s.grid, dict):
        for key, values in s.grid.items():
            _check(isinstance(values, list) and len(values) > 0,
                   f"search.grid.{key}: expected a non-empty list of values")
    elif s.grid is not None:
        _check(isinstance(s.grid, str), f"search.grid = {s.grid!r}: expected a grid name or a "
                                         f"mapping {{dotted key: [values]}}")
    if s.metric is not None:
        accepted = list((TOY_KEYS if study.family == "toy" else IMAGE_KEYS).values())
        _check(s.metric in accepted, f"search.metric = {s.metric!r}: accepted values on "
                                     f"{study.dataset_name} are {', '.join(accepted)}")


def _validate_gan(study: StudyFile, gan: str) -> None:
    """Resolve the base run of ``gan`` and its first points with the loop's validation."""
    base = study.base_run(gan)
    _resolve(base, gan)
    try:
        points = study.grid_points(gan)
    except ValueError as exc:
        raise StudyError(f"search.grid: {exc}") from None
    trials = study.samples if points is None else len(points)
    _check(study.scheduler.type != "pbt" or trials >= 2,
           f"search.samples_per_gan = {trials}: PBT needs a population of at least 2 per GAN ({gan})")
    _check(not study.search.repeats or study.search.top_k <= trials,
           f"search.top_k = {study.search.top_k}: must be <= the trials of {gan} ({trials})")
    if points is None:
        try:
            point = search_spaces.default_point(gan, study.family)
        except ValueError as exc:
            raise StudyError(f"search ({gan}): {exc}") from None
        _resolve(search_spaces.point_config(base, point), gan)
        return
    for point in points:
        _resolve(search_spaces.apply_point(base, point), gan, grid=True)


def _resolve(config: dict, gan: str, grid: bool = False) -> None:
    """Resolve a trial's run config with the loop's validation; errors name the study file's key
    (``run.`` + the run config's name; a GAN's hparams live under ``run.hparams.<gan>``)."""
    try:
        resolve_config(config)
    except ConfigError as exc:
        message = str(exc)
        if message.startswith("hparams."):
            message = f"run.hparams.{gan}." + message[len("hparams."):]
        elif not message.startswith("gan"):
            message = "run." + message
        raise StudyError(("search.grid: " if grid else "") + message) from None


# -- smoke test --------------------------------------------------------------------------------
SMOKE = {"max_steps": 40, "eval_every": 10, "samples": 2, "grid_points": 2, "eval_samples": 500,
         "max_items": 512}  # the --smoke-test budget: a few steps and trials, CI-sized


def smoke_overrides(doc: dict) -> dict:
    """``doc`` with a tiny budget: 40 steps, evaluations every 10, 2 samples (or the first 2
    grid points), ASHA grace 10, 500 evaluation samples, at most 512 training images; the study
    name gets a ``-smoke`` suffix so it never collides with the real study."""
    doc = deep_merge({}, legacy_layout(doc)[0])
    doc["name"] = f"{doc.get('name', 'study')}-smoke"
    search = dict(doc.get("search") or {})
    grid = search.get("grid")
    if grid is None:
        search["samples_per_gan"] = SMOKE["samples"]
    elif isinstance(grid, dict):
        search["grid"] = {k: (v[:1] if i else v[:SMOKE["grid_points"]]) if isinstance(v, list) else v
                          for i, (k, v) in enumerate(grid.items())}
    else:
        search["grid"] = {"__named__": grid}  # cut below, once the named grid is known
    doc["search"] = search
    sched = dict(doc.get("scheduler") or {})
    sched.pop("max_t", None)
    sched["grace_period"] = SMOKE["eval_every"]
    doc["scheduler"] = sched
    run = dict(doc.get("run") or {})
    run["steps"] = SMOKE["max_steps"]
    ev = dict(run.get("eval") or {})
    ev["num_samples"] = min(int(ev.get("num_samples", SMOKE["eval_samples"])), SMOKE["eval_samples"])
    ev["every"] = SMOKE["eval_every"]
    run["eval"] = ev
    data = dict(run.get("data") or {})
    if DATA_FAMILIES.get(data.get("name", DataConfig.name)) != "toy":
        data["max_items"] = SMOKE["max_items"]
    run["data"] = data
    doc["run"] = run
    if isinstance(search.get("grid"), dict) and "__named__" in search["grid"]:
        search["grid"] = _cut_named_grid(search["grid"]["__named__"], doc)
    return doc


def _cut_named_grid(name, doc: dict):
    """The first :data:`SMOKE` ``grid_points`` points of a named grid, as explicit axes."""
    if not isinstance(name, str) or name not in grids.GRIDS:
        return name  # let validation report it
    gans = doc.get("gans") or []
    gan = gans[0] if isinstance(gans, list) and gans and isinstance(gans[0], str) else None
    try:
        points = grids.get_grid(name, gan) if gan else grids.GRIDS[name][1]()
    except ValueError:
        return name
    points = points[: SMOKE["grid_points"]]
    keys = list(points[0])
    axes = {k: sorted({p[k] for p in points}, key=repr) for k in keys}
    return axes

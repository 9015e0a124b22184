"""Checks of a parsed study across its keys (budget, cluster, search, every GAN's first point),
run before Ray starts: each a one-line :class:`~study.study_schema.StudyError` naming the key."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import search_spaces
from study.study_schema import NAME_PATTERN, StudyError, StudyFile
from trainables import metric_names as M
from trainables.config import DATA_FAMILIES, EvalConfig, build_dataclass, resolve_config
from trainables.data.families import group_of
from trainables.schema import ConfigError


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
    if study.population_based:
        _check(study.perturbation_interval % study.eval_every == 0,
               f"scheduler.perturbation_interval = {study.perturbation_interval}: must be a multiple of "
               f"run.eval.every ({study.eval_every}): PBT copies trials at their reported checkpoints")
        _check(not s.repeats, f"search.repeats = {s.repeats}: not available with scheduler.type = '{sch.type}' "
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
    if s.storage is not None:
        _check(_storage_scheme(s.storage) in STORAGE_SCHEMES,
               f"search.storage = {s.storage!r}: expected a database URL whose scheme is one of "
               f"{', '.join(STORAGE_SCHEMES)} (e.g. postgresql://user@host:5432/optuna)")
        _check(urlsplit(s.storage).password is None,
               "search.storage: a password in the URL is refused (it would be stored in the study file, "
               "state and MLflow); set PGPASSWORD or ~/.pgpass (PostgreSQL) or MYSQL_PWD (MySQL) instead")
    accepted = list(M.metrics_of(M.TOY if group_of(study.family) == "toy" else M.IMAGES).values())
    if s.metric is not None:
        _check(s.metric in accepted, f"search.metric = {s.metric!r}: accepted values on "
                                     f"{study.dataset_name} are {', '.join(accepted)}")
    if s.metrics is not None:
        _validate_pareto(study, accepted)
    for metric in s.metrics or [s.metric]:
        _check(metric not in (M.EVAL_PRECISION, M.EVAL_RECALL) or study.run.eval.get("prc") is not False,
               f"search: {metric} is not measured with run.eval.prc = false; set it to true")


def _validate_pareto(study: StudyFile, accepted: list[str]) -> None:
    """``search.metrics``: >= 2 distinct metrics of the dataset, not with ``search.metric``, and a
    scheduler that needs one metric only to stop trials (ASHA on the first) or none."""
    s = study.search
    _check(isinstance(s.metrics, list) and len(s.metrics) >= 2 and len(set(s.metrics)) == len(s.metrics),
           f"search.metrics = {s.metrics!r}: expected a list of >= 2 distinct metrics (one metric: use search.metric)")
    _check(s.metric is None, "search.metric: not used with search.metrics (their first is the ranked one); "
                             "remove one of them")
    for metric in s.metrics:
        _check(metric in accepted, f"search.metrics: {metric!r} is not a metric of {study.dataset_name}; "
                                   f"accepted values are {', '.join(accepted)}")
    _check(not study.population_based,
           f"scheduler.type = '{study.scheduler.type}': a Pareto search (search.metrics) accepts asha or none "
           "(PBT copies the best member by one metric)")


STORAGE_SCHEMES = ("postgresql", "mysql", "sqlite")  # SQLAlchemy dialects Optuna's RDBStorage supports


def _storage_scheme(url: str) -> str:
    """The dialect of a SQLAlchemy URL (``postgresql+psycopg2://`` -> ``postgresql``)."""
    scheme, sep, _ = url.partition("://")
    return scheme.split("+")[0] if sep else ""


def _validate_gan(study: StudyFile, gan: str) -> None:
    """Resolve the base run of ``gan`` and its first points with the loop's validation."""
    base = study.base_run(gan)
    _resolve(base, gan)
    try:
        points = study.grid_points(gan)
    except ValueError as exc:
        raise StudyError(f"search.grid: {exc}") from None
    trials = study.samples if points is None else len(points)
    _check(not study.population_based or trials >= 2,
           f"search.samples_per_gan = {trials}: {study.scheduler.type.upper()} needs a population of at least 2 "
           f"per GAN ({gan})")
    _check(not study.search.repeats or study.search.top_k <= trials,
           f"search.top_k = {study.search.top_k}: must be <= the trials of {gan} ({trials})")
    if points is None:
        try:
            point = study.default_point(gan)
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

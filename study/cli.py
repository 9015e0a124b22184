"""The ``study`` command line.

::

    study run [STUDY_FILE] [--smoke-test] [--dry-run]   # no file: the built-in quickstart
    study resume STUDY_DIR
    study relocate STUDY_DIR                            # after moving / copying a study folder
    study best STUDY_DIR_OR_NAME [--json]
    study sample RUN_ID | --best STUDY [-n 64] [-o grid.png] [--tracking-uri URI]
    study gans
    study space GAN [--dataset grid25]

Bad input (study file, names, paths) prints one line ``study: error: ...`` on stderr and exits
with status 2 before Ray starts. An interrupted study exits with 130 and prints the resume
command.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from study.study_file import StudyError
from trainables.checkpoint import CheckpointError
from trainables.schema import ConfigError

# The driver layers (Ray, MLflow, Optuna) are imported inside the commands that need them, so
# `study --help`, `study gans` and bad-input errors answer without loading them.
QUICKSTART = Path(__file__).with_name("quickstart.toml")  # the built-in study of `study run`
EXIT_BAD_INPUT = 2  # bad study file / arguments (argparse's own code)
EXIT_INTERRUPTED = 130  # Ctrl-C / SIGINT: resumable
EXIT_STORE_DOWN = 75  # the tracking store stopped answering (sysexits' EX_TEMPFAIL): resumable


def _fail(message: str) -> int:
    print(f"study: error: {message}", file=sys.stderr, flush=True)
    return EXIT_BAD_INPUT


def cmd_run(args) -> int:
    from study.study_file import load_study
    from study.lifecycle import run_study

    path = Path(args.study_file) if args.study_file else QUICKSTART
    study = load_study(path, smoke_test=args.smoke_test)
    if args.dry_run:
        import yaml

        print(f"# study file: {path}{' (smoke test)' if args.smoke_test else ''}")
        print(yaml.safe_dump(study.to_dict(), sort_keys=False), end="")
        print(f"# study dir: {study.study_dir}\n# MLflow: {study.tracking_uri}")
        metric, mode = study.objective
        rule = study.rank_rule()
        print(f"# metric: {metric} ({mode}); trials ranked by {rule.by}"
              f"{f' of the last {rule.k}' if rule.by == 'last_k_mean' else ''} of the evaluations "
              f"at step >= {rule.after}")
        if study.scheduler.type == "asha":
            print(f"# ASHA rungs: {', '.join(map(str, study.asha_rungs))} steps (max_t {study.max_t})")
        for gan in study.gans:
            points = study.grid_points(gan)
            n = study.samples if points is None else len(points)
            print(f"# {gan}: {n} trials ({'grid' if points is not None else study.search.sampler})")
            pinned = study.pinned(gan) if points is None else {}
            if pinned:
                print(f"#   fixed by [run], not searched: {', '.join(f'{k} = {v}' for k, v in pinned.items())}")
        if study.search.repeats:
            print(f"# then repeats: the top {study.search.top_k} configuration(s) of each GAN x "
                  f"{study.search.repeats} new seeds, {study.max_steps} steps each")
        return 0
    return _exit_code(run_study, study)


def cmd_resume(args) -> int:
    from study.lifecycle import resume_study

    return _exit_code(resume_study, args.study_dir)


def _exit_code(start, target) -> int:
    """Run ``start(target)`` (a study run or resume); the exit code says whether it can be resumed."""
    from study.lifecycle import StudyInterrupted, TrackingStoreDown

    try:
        start(target)
    except StudyInterrupted:
        return EXIT_INTERRUPTED
    except TrackingStoreDown as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_STORE_DOWN
    return 0


def cmd_best(args) -> int:
    from study import report
    from study.lifecycle import study_leaderboard

    study, state, rows = study_leaderboard(args.study)
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
        return 0
    print(f"study {study.name} ({state['status']}; GANs: "
          f"{', '.join(f'{g} {s}' for g, s in state['gans'].items())})")
    print(report.format_table(rows))
    return 0


def _find_run_uri(run_id: str, tracking_uri: str | None) -> str:
    """The tracking URI holding ``run_id``: the given one, $MLFLOW_TRACKING_URI, or the
    sqlite databases of the studies under ./studies."""
    import os

    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    from study.state import STATE_FILE

    candidates = [tracking_uri] if tracking_uri else []
    if not candidates and os.environ.get("MLFLOW_TRACKING_URI"):
        candidates.append(os.environ["MLFLOW_TRACKING_URI"])
    if not candidates:
        for state_file in sorted(Path("studies").glob(f"*/{STATE_FILE}")):
            try:
                candidates.append(json.loads(state_file.read_text())["tracking_uri"])
            except (OSError, ValueError, KeyError):
                continue
    for uri in dict.fromkeys(candidates):
        try:
            MlflowClient(uri).get_run(run_id)
            return uri
        except MlflowException:
            continue
    raise StudyError(f"run {run_id!r}: not found in {', '.join(candidates) or 'any study under ./studies'}"
                     f"; pass --tracking-uri")


def cmd_sample(args) -> int:
    import os
    import tempfile

    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    from study.report import sample_output_kind, save_samples
    from trainables.loop import GanRun
    from study.tracking import BEST_NAME, CHECKPOINTS_DIR

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    if (args.run_id is None) == (args.best is None):
        raise StudyError("sample: give either RUN_ID or --best STUDY")
    if args.n < 1:
        raise StudyError(f"-n = {args.n}: must be >= 1")
    try:
        sample_output_kind(args.output)
    except ValueError as exc:
        raise StudyError(str(exc)) from None
    if args.best is not None:
        from study.lifecycle import study_leaderboard

        _, state, rows = study_leaderboard(args.best)
        if not rows:
            raise StudyError(f"{args.best}: no trial has been evaluated yet")
        uri, run_id = state["tracking_uri"], rows[0]["run_id"]
    else:
        run_id = args.run_id
        uri = _find_run_uri(run_id, args.tracking_uri)
    client = MlflowClient(uri)
    try:
        local = client.download_artifacts(run_id, f"{CHECKPOINTS_DIR}/{BEST_NAME}",
                                          tempfile.mkdtemp(prefix="best-"))
    except (MlflowException, OSError) as exc:
        raise StudyError(f"run {run_id}: no {CHECKPOINTS_DIR}/{BEST_NAME} artifact "
                         f"({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None
    run = GanRun.from_checkpoint(local, device="cpu")
    try:
        out = save_samples(run, args.n, args.output, seed=args.seed)
    except ValueError as exc:
        raise StudyError(str(exc)) from None
    print(f"{out} ({args.n} samples of {run.cfg.gan} on {run.cfg.data.name} at step {run.step}, "
          f"run {run_id})")
    return 0


def cmd_relocate(args) -> int:
    from study.relocate import relocate

    print(relocate(args.study_dir))
    return 0


def cmd_gans(args) -> int:
    from trainables.config import defaults_for, resolve_config
    from trainables.registry import GANS

    width = max(map(len, GANS))
    for name, spec in GANS.items():
        kind = "metric-learning" if spec.metric_learning else "baseline"
        print(f"{name:<{width}}  [{kind}] {spec.description}")
        variants = f" (variants: {', '.join(spec.variants)})" if spec.variants else ""
        defaults = ", ".join(f"{k}={v}" for k, v in spec.default_hparams().items())
        print(f"{'':<{width}}  defaults{variants}: {defaults}")
        for dataset in ("grid25", "cifar10"):  # the toy and the 32x32-image training defaults
            cfg = resolve_config(defaults_for(name, dataset))
            o = cfg.optim
            print(f"{'':<{width}}  on {dataset}: batch {cfg.data.batch_size}, net {cfg.net.arch} "
                  f"(z {cfg.net.z_dim}, {cfg.net.z_dist}), lr_d {o.lr_d:g}, lr_g {o.lr_g:g}, "
                  f"betas D ({o.beta1_d:g}, {o.beta2_d:g}) G ({o.beta1_g:g}, {o.beta2_g:g}), "
                  f"n_critic {o.n_critic}")
    return 0


def cmd_space(args) -> int:
    import search_spaces
    from trainables.config import DATA_FAMILIES
    from trainables.registry import get_gan

    get_gan(args.gan)
    if args.dataset not in DATA_FAMILIES:
        raise StudyError(f"--dataset = {args.dataset!r}: accepted values are {', '.join(DATA_FAMILIES)}")
    try:
        print(search_spaces.format_space(args.gan, DATA_FAMILIES[args.dataset]))
    except ValueError as exc:
        raise StudyError(str(exc)) from None
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="study", description=(
        "Hyperparameter studies of metric-learning GANs on Ray Tune + Optuna + MLflow."))
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", help="run a study file (no file: the built-in quickstart)")
    p.add_argument("study_file", nargs="?", help="TOML or YAML study file")
    p.add_argument("--smoke-test", action="store_true",
                   help="tiny budget (40 steps, 2 trials per GAN) to check the whole pipeline")
    p.add_argument("--dry-run", action="store_true",
                   help="print the resolved study and start nothing")
    p.add_argument("--verbose", action="store_true",
                   help="Ray Tune's status table instead of the compact progress view")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("resume", help="finish an interrupted study")
    p.add_argument("study_dir")
    p.add_argument("--verbose", action="store_true",
                   help="Ray Tune's status table instead of the compact progress view")
    p.set_defaults(func=cmd_resume)

    p = sub.add_parser("relocate", help="after moving or copying a study folder: point its MLflow "
                                        "artifacts and state at the new place")
    p.add_argument("study_dir")
    p.set_defaults(func=cmd_relocate)

    p = sub.add_parser("best", help="leaderboard: best trial per GAN")
    p.add_argument("study", metavar="STUDY_DIR_OR_NAME")
    p.add_argument("--json", action="store_true", help="print the rows as JSON")
    p.set_defaults(func=cmd_best)

    p = sub.add_parser("sample", help="samples of a trial's best generator: PNG, .npz or a folder of PNGs")
    p.add_argument("run_id", nargs="?", help="MLflow run id of a trial")
    p.add_argument("--best", metavar="STUDY", help="the best trial of a study (dir or name)")
    p.add_argument("-n", type=int, default=64, help="number of samples (default 64)")
    p.add_argument("-o", "--output", default="grid.png",
                   help="FILE.png: scatter plot / image grid (default grid.png); FILE.npz: the raw "
                        "array (key 'samples'); DIR/: one PNG per image (torch-fidelity --input1)")
    p.add_argument("--seed", type=int, default=0, help="noise seed")
    p.add_argument("--tracking-uri", help="MLflow tracking URI holding RUN_ID")
    p.set_defaults(func=cmd_sample)

    p = sub.add_parser("gans", help="registered GANs, descriptions and defaults")
    p.set_defaults(func=cmd_gans)

    p = sub.add_parser("space", help="search space of a GAN")
    p.add_argument("gan")
    p.add_argument("--dataset", default="grid25", help="dataset whose family sets the ranges")
    p.set_defaults(func=cmd_space)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from study.console import set_verbose

    set_verbose(getattr(args, "verbose", False))
    try:
        return args.func(args)
    except (StudyError, ConfigError, CheckpointError) as exc:  # bad input: one line, status 2
        return _fail(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)
    except KeyboardInterrupt:
        print("study: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())

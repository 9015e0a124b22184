"""Are metric-learning GANs created equal? An equal-budget comparison on grid25 (Lucic et al. 2018).

One study: the five metric-learning GANs and the non-saturating baseline (``nsgan``), the same
number of trials each (registered defaults first, then Optuna TPE over each GAN's own space),
every GAN's trials at once on the 2 CPU cores, ASHA on ``eval/fit``, trials ranked by the best
``eval/fit`` after the first rung. Per GAN: the expected best ``eval/fit`` after k trials with a
95% bootstrap band (``study.budget``), read from the study's ``leaderboard.json``; the best
trial's figures beside it. Writes ``benchmarks/results/equal_budget.{md,json,png}`` (or ``--out PREFIX``).

    python benchmarks/equal_budget.py [--trials 12] [--steps 2000] [--every 500] [--grace 500] [--out PREFIX] [--smoke-test]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere

from trainables import metric_names as M  # noqa: E402

GANS = ("tripletgan", "mlgan", "mbgan", "gngan", "mmd_rep", "nsgan")
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "equal_budget"
SMOKE = {"gans": ["mmd_rep", "nsgan"], "trials": 2, "steps": 20, "every": 10, "grace": 10}


def study_doc(args, storage: Path) -> dict:
    return {"name": "equal_budget", "gans": list(args.gans), "storage_path": str(storage),
            "max_concurrent": 2,
            "run": {"steps": args.steps, "data": {"name": "grid25"}, "eval": {"every": args.every}},
            "search": {"samples_per_gan": args.trials, "seed": 0, "metric": M.EVAL_FIT},
            "scheduler": {"type": "asha", "grace_period": args.grace, "reduction_factor": 3},
            "mlflow": {"register_model": False}}


def run_local_study(doc: dict, num_cpus: int = 2):
    """Run the study ``doc`` to the end on a new local Ray of ``num_cpus`` CPUs: (study, wall seconds)."""
    import ray

    from study.lifecycle import run_study
    from study.study_file import parse_study

    study = parse_study(doc)
    ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, logging_level="WARNING")
    t0 = time.time()
    try:
        run_study(study)
    finally:
        ray.shutdown()
    return study, time.time() - t0


def render(args, rows: list[dict], wall: float) -> str:
    from study.report import format_budget

    head = ("# Are metric-learning GANs created equal? Equal budget on grid25\n\n"
            + __doc__.split("\n\n")[1].replace("\n", " ") + "\n\n"
            + f"Setting: {len(rows)} GANs x {args.trials} trials, at most {args.steps} steps per trial, "
              f"evaluation every {args.every} steps (2,500 points), ASHA grace {args.grace} / reduction "
              f"factor 3, 2 trials at a time on 2 CPU cores, TPE seed 0; study wall time {wall / 60:.0f} min. "
              "Values are `eval/fit` (1 - total variation to the true mixture on the mode cells; "
              f"true data ~0.95).\n\n![budget curves]({Path(args.out).name}.png)\n\n")
    best = ["| GAN | trials | best eval/fit | step | modes_20 | % HQ | KL | best config |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        e = r["extras"]
        config = ", ".join(f"{k.split('.')[-1]}={v:.3g}" if isinstance(v, float) else f"{k.split('.')[-1]}={v}"
                           for k, v in sorted(r["config"].items()))
        best.append(f"| {r['gan']} | {r['trials']} | {r['value']:.3f} | {r['step']} | "
                    f"{e.get(M.EVAL_MODES_20, float('nan')):.0f} | {100 * e.get(M.EVAL_HQ, float('nan')):.1f} | "
                    f"{e.get(M.EVAL_KL, float('nan')):.2f} | {config} |")
    table = format_budget(rows, markdown=True).replace("![budget curves](budget_curves.png)\n\n", "")
    return head + "\n".join(best) + "\n" + table


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gans", nargs="+", default=list(GANS))
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--every", type=int, default=500)
    parser.add_argument("--grace", type=int, default=500)
    parser.add_argument("--out", default=str(DEFAULT_OUT), help="output prefix (.md/.json/.png)")
    parser.add_argument("--smoke-test", action="store_true", help="CI size: 2 GANs x 2 trials, temp output")
    args = parser.parse_args(argv)
    if args.smoke_test:
        for key, value in SMOKE.items():
            setattr(args, key, value)
    from study.report import BUDGET_PLOT

    study, wall = run_local_study(study_doc(args, Path(tempfile.mkdtemp(prefix="equal-budget-"))))
    rows = json.loads((study.study_dir / "leaderboard.json").read_text())
    out = Path(tempfile.mkdtemp()) / "equal_budget" if args.smoke_test else Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(study.study_dir / BUDGET_PLOT, out.with_suffix(".png"))
    out.with_suffix(".json").write_text(json.dumps({"args": vars(args), "wall_s": wall, "rows": rows}, indent=1))
    out.with_suffix(".md").write_text(render(args, rows, wall))
    print(out.with_suffix(".md").read_text(), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

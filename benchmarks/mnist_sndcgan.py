"""SN-DCGAN on MNIST: the conv path end to end, as a study of every metric-learning GAN at its defaults.

One study (Ray Tune, MLflow, the leaderboard's figures) runs each metric-learning GAN once at its
registered MNIST defaults with the nets switched from TripletGAN's MLPs to the SN-DCGAN of the
repulsive MMD-GAN paper (Table S1: 32x32, spectral norm by power iteration), at a channel
``--width`` sized for CPU, on the real MNIST t10k split padded to 32x32. Each evaluation computes
the domain FID (the MNIST classifier's 128-d features, ``--num-samples`` real vs generated digits),
improved precision / recall (k = 3, same features) and the class entropy of the generated digits,
all of the generator EMA at ``--ema-halflife`` kimg (``run.ema``; 0 = none), plus the raw
generator's FID beside it (``eval_raw/fid``).

Writes ``benchmarks/results/mnist_sndcgan.md`` (per GAN: every evaluation's FID, precision,
recall, class entropy), ``.json``, ``mnist_sndcgan_curves.png`` (the study's FID curves) and
``mnist_sndcgan_samples.png`` (each GAN's samples at its ranked checkpoint, side by side), or
``PREFIX.md`` ... ``PREFIX_samples.png`` with ``--out PREFIX``::

    python benchmarks/mnist_sndcgan.py --steps 3000 --every 500 --width 0.125
    python benchmarks/mnist_sndcgan.py --smoke-test
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere

from equal_budget import run_local_study  # noqa: E402
from study.figures import CURVES, SIDE_BY_SIDE  # noqa: E402
from trainables import metric_names as M  # noqa: E402
from trainables.registry import metric_learning_gans  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
COLUMNS = (M.EVAL_FID, M.raw_of(M.EVAL_FID), M.EVAL_PRECISION, M.EVAL_RECALL, M.EVAL_CLASS_ENTROPY)
HEAD = "| GAN | {} | domain FID (EMA G) | raw G's FID | precision | recall | class entropy |"
SMOKE = {"gans": ["mmd_rep"], "steps": 4, "every": 2, "num_samples": 200, "width": 0.125}


def study_doc(args, storage: Path) -> dict:
    return {"name": "mnist_sndcgan", "gans": list(args.gans), "storage_path": str(storage), "max_concurrent": 2,
            "run": {"steps": args.steps, "data": {"name": "mnist", "batch_size": args.batch_size},
                    "net": {"arch": "sndcgan", "sn": "pim", "kwargs": {"width": args.width}},
                    "eval": {"every": args.every, "num_samples": args.num_samples, "kid_subsets": 0, "prc": True},
                    "ema": {"halflife_kimg": args.ema_halflife}},
            "search": {"samples_per_gan": 1, "seed": 0},  # one trial per GAN: its registered defaults
            "scheduler": {"type": "none"}, "mlflow": {"register_model": False}}


def curves(uri: str, rows: list[dict]) -> dict:
    """Per GAN, every evaluation of its (only) trial: {gan: [{step, metric: value}]}."""
    from mlflow import MlflowClient

    client = MlflowClient(uri)
    out = {}
    for row in rows:
        points: dict[int, dict] = {}
        for key in COLUMNS:
            for m in client.get_metric_history(row["run_id"], key):
                points.setdefault(m.step, {"step": m.step})[key] = m.value
        out[row["gan"]] = [points[s] for s in sorted(points)]
    return out


def render(args, rows: list[dict], per_gan: dict, wall: float) -> str:
    lines = ["# SN-DCGAN on MNIST: every metric-learning GAN at its defaults", "",
             __doc__.split("\n\n")[1].replace("\n", " "), "",
             f"Setting: {len(rows)} GANs x 1 trial, {args.steps} steps, batch {args.batch_size}, SN-DCGAN width "
             f"{args.width} (channels x{args.width} of Table S1), evaluation every {args.every} steps on "
             f"{args.num_samples} digits, generator EMA half-life {args.ema_halflife:g} kimg, 2 trials at a time on "
             f"2 CPU cores (1 thread each); study wall time {wall / 60:.0f} min. Class entropy: ideal ln 10 = 2.303.", "",
             f"![FID curves]({Path(args.out).name}_curves.png)", "",
             f"![samples]({Path(args.out).name}_samples.png)", "",
             HEAD.format("ranked step"), "|---|---|---|---|---|---|---|"]
    for row in rows:
        at = next((p for p in per_gan[row["gan"]] if p["step"] == row["step"]), {})
        lines.append(f"| {row['gan']} | {row['step']} | " + " | ".join(
            f"{at.get(k, float('nan')):.{1 if 'fid' in k else 3}f}" for k in COLUMNS) + " |")
    lines += ["", "## Every evaluation", "", HEAD.format("step"), "|---|---|---|---|---|---|---|"]
    for gan, points in per_gan.items():
        for p in points:
            lines.append(f"| {gan} | {p['step']} | " + " | ".join(
                f"{p.get(k, float('nan')):.{1 if 'fid' in k else 3}f}" for k in COLUMNS) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gans", nargs="+", default=metric_learning_gans())
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--every", type=int, default=500)
    parser.add_argument("--num-samples", type=int, default=2500)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--width", type=float, default=0.125, help="SN-DCGAN channel multiplier (1: Table S1)")
    parser.add_argument("--ema-halflife", type=float, default=10.0,
                        help="generator EMA half-life in kimg (0: none; the table's EMA vs raw columns)")
    parser.add_argument("--out", default=str(RESULTS / "mnist_sndcgan"), help="output prefix (.md/.json)")
    parser.add_argument("--smoke-test", action="store_true", help="CI size: 1 GAN, 4 steps, width 1/8, temp output")
    args = parser.parse_args(argv)
    if args.smoke_test:
        for key, value in SMOKE.items():
            setattr(args, key, value)
        args.out = str(Path(tempfile.mkdtemp()) / "mnist_sndcgan")
    study, wall = run_local_study(study_doc(args, Path(tempfile.mkdtemp(prefix="mnist-sndcgan-"))))
    rows = json.loads((study.study_dir / "leaderboard.json").read_text())
    state = json.loads((study.study_dir / "study_state.json").read_text())
    per_gan = curves(state["tracking_uri"], rows)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    for made, suffix in ((CURVES, "_curves.png"), (SIDE_BY_SIDE, "_samples.png")):
        shutil.copy(study.study_dir / made, out.parent / (out.name + suffix))
    out.with_suffix(".json").write_text(json.dumps({"args": vars(args), "wall_s": wall, "rows": rows,
                                                    "curves": per_gan}, indent=1))
    out.with_suffix(".md").write_text(render(args, rows, per_gan, wall))
    print(out.with_suffix(".md").read_text(), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

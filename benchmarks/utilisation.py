"""Slot utilisation of a study: every GAN's trials at once vs one GAN's sweep after another.

Utilisation = sum of the trials' durations / (trial slots x wall time), read back from MLflow
(a trial lasts from its child run's start, after the trial process has built its run, to its
close by the driver); idle = slots x wall - busy. Wall time runs from the parent run's start
(before the Tuner starts) to the last trial's end, so the Tuner's and the trial processes'
start-up count as idle; the "sweep" column starts at the first trial instead.

- ``before``: the old design, one study per GAN run back to back on the same Ray instance, each
  with ``max_concurrent`` = the slots (its wall times add up); both designs run the current code
  (a finished trial's worker process takes the next trial: Tune's actor reuse), so the difference
  is the GANs' sequence alone;
- ``after``: one study of all GANs under one study-wide concurrency budget (``study.sweep``).

Settings: ``local2`` = this machine, Ray on 2 CPUs, 2 slots, a 3-GAN x 8-trial grid25 study
with ASHA, trials of up to 1,500 steps (5-60 s; the quickstart's run 1,000-5,000 steps);
``cluster16`` = a simulated cluster (``ray.cluster_utils.Cluster``: 4 worker nodes x 4 CPUs x
4 logical GPUs, trials of 1 CPU + 1 GPU, i.e. 16 slots; no CUDA here, so trials train on the
CPU), short trials, 32 per GAN (6 rounds of the 16 slots). Its 16 trial processes share this
machine's 2 physical cores: their start (torch and the project imported) takes about a minute
before the first trial, which a real cluster's nodes do in parallel; the "sweep" columns leave
that out. Writes ``benchmarks/results/utilisation.{md,json,png}`` (the PNG: each
trial's span per slot, coloured by GAN, before and after).

    python benchmarks/utilisation.py [--setting local2 cluster16] [--smoke-test]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere

GANS = ("mbgan", "nsgan", "tripletgan")
SETTINGS = {
    "local2": {"nodes": None, "slots": 2, "trials": 8, "steps": 1500, "every": 250, "data": "grid25",
               "asha": True, "resources": {"cpu": 1.0, "gpu": 0.0}},
    "cluster16": {"nodes": 4, "slots": 16, "trials": 32, "steps": 200, "every": 50, "data": "ring8",
                  "asha": True, "resources": {"cpu": 1.0, "gpu": 1.0}},
}
SMOKE = {"local2": {"trials": 1, "steps": 20, "every": 10}}  # CI size (with 2 of the GANs)
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "utilisation"


def study_doc(name: str, gans, setting: dict, storage: Path) -> dict:
    every = setting["every"]
    return {"name": name, "gans": list(gans), "storage_path": str(storage),
            "max_concurrent": setting["slots"], "resources": setting["resources"],
            "run": {"steps": setting["steps"], "data": {"name": setting["data"]},
                    "eval": {"every": every, "num_samples": 1000}},
            "search": {"samples_per_gan": setting["trials"], "seed": 0},
            "scheduler": {"type": "asha", "grace_period": every, "reduction_factor": 3}
            if setting["asha"] else {"type": "none"},
            "mlflow": {"register_model": False},
            # the simulated cluster is already joined (the driver's Ray); "auto" skips the local-machine check
            "ray_address": "local" if setting["nodes"] is None else "auto"}


def spans(study) -> tuple[float, list[tuple[str, float, float]]]:
    """(parent start, [(gan, start, end)]) of a finished study, seconds since the epoch."""
    from mlflow import MlflowClient

    from study.tracking import TAG_GAN, TAG_KIND

    state = json.loads((study.study_dir / "study_state.json").read_text())
    client = MlflowClient(state["tracking_uri"])
    runs = client.search_runs([state["experiment_id"]], max_results=10000)
    parent = next(r for r in runs if r.info.run_id == state["parent_run_id"])
    trials = [(r.data.tags[TAG_GAN], r.info.start_time / 1e3, r.info.end_time / 1e3)
              for r in runs if r.data.tags.get(TAG_KIND) == "trial"]
    return parent.info.start_time / 1e3, sorted(trials, key=lambda t: t[1])


def measure(parts: list[tuple[float, list]], slots: int) -> dict:
    """Utilisation over studies run one after another (their walls add up)."""
    busy = sum(e - s for _, trials in parts for _, s, e in trials)
    wall = sum(max(e for _, _, e in trials) - t0 for t0, trials in parts)
    sweep = sum(max(e for _, _, e in trials) - min(s for _, s, _ in trials) for _, trials in parts)
    return {"slots": slots, "trials": sum(len(t) for _, t in parts), "busy_s": busy, "wall_s": wall,
            "idle_s": slots * wall - busy, "utilisation": busy / (slots * wall),
            "sweep_wall_s": sweep, "sweep_utilisation": busy / (slots * sweep)}


def run(design: str, setting: dict, work: Path, gans) -> tuple[dict, list]:
    from study.lifecycle import run_study
    from study.study_file import parse_study

    groups = [list(gans)] if design == "after" else [[g] for g in gans]
    parts = []
    for group in groups:
        study = parse_study(study_doc(f"{design}-{'-'.join(group)}", group, setting, work / design))
        run_study(study)
        parts.append(spans(study))
    return measure(parts, setting["slots"]), parts


def start_ray(setting: dict):
    """Ray for a setting: local with ``slots`` CPUs, or a simulated multi-node cluster."""
    import ray

    if setting["nodes"] is None:
        ray.init(address="local", num_cpus=setting["slots"], include_dashboard=False, logging_level="WARNING")
        return None
    from ray.cluster_utils import Cluster

    per_node = setting["slots"] // setting["nodes"]
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
    for _ in range(setting["nodes"]):
        cluster.add_node(num_cpus=per_node, num_gpus=per_node)
    ray.init(address=cluster.address, logging_level="WARNING")
    return cluster


def plot(results: dict, out: Path) -> None:
    from trainables.plots import new_figure, save_figure

    names = [(s, d) for s in results for d in ("before", "after")]
    fig, axes = new_figure(figsize=(10, 2.2 * len(names)), nrows=len(names), ncols=1, squeeze=False)
    axes = list(axes.flat)
    colours = {}
    for ax, (setting, design) in zip(axes, names):
        parts, slots = results[setting][design]["parts"], results[setting][design]["slots"]
        offset = 0.0
        for t0, trials in parts:
            free = [0.0] * slots  # greedy slot assignment for drawing
            for gan, s, e in trials:
                lane = min(range(slots), key=lambda k: (free[k] > s, free[k]))
                free[lane] = e
                colour = colours.setdefault(gan, f"C{len(colours)}")
                ax.barh(lane, e - s, left=offset + s - t0, color=colour, edgecolor="white", height=0.8)
            offset += max(e for _, _, e in trials) - t0
        m = results[setting][design]
        ax.set_title(f"{setting}, {design}: utilisation {m['utilisation']:.2f}, wall {m['wall_s']:.0f} s",
                     fontsize=9)
        ax.set_ylabel("slot")
        ax.set_yticks([])
    from matplotlib.patches import Patch

    axes[0].legend([Patch(color=c) for c in colours.values()], list(colours), fontsize=8, loc="upper right")
    axes[-1].set_xlabel("seconds since the study's parent run started")
    save_figure(fig, out)


def render(results: dict) -> str:
    lines = ["# Slot utilisation: all GANs at once vs one GAN after another", "",
             *[line for part in __doc__.split("\n\n")[1:4] for line in (part.replace("\n  ", " "), "")],
             "Sizes: " + "; ".join(f"{name}: {s['trials']} trials per GAN, {s['steps']} steps max, evaluation "
                                   f"every {s['every']} steps (ASHA grace {s['every']}, reduction factor 3)"
                                   for name, s in SETTINGS.items()) + ".", "",
             "| setting | design | slots | trials | busy (s) | wall (s) | idle (slot-s) | utilisation | "
             "sweep wall (s) | sweep utilisation |", "|---|---|---|---|---|---|---|---|---|---|"]
    for setting, by_design in results.items():
        for design in ("before", "after"):
            m = by_design[design]
            lines.append(f"| {setting} | {design} | {m['slots']} | {m['trials']} | {m['busy_s']:.0f} | "
                         f"{m['wall_s']:.0f} | {m['idle_s']:.0f} | **{m['utilisation']:.3f}** | "
                         f"{m['sweep_wall_s']:.0f} | {m['sweep_utilisation']:.3f} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--setting", nargs="+", choices=list(SETTINGS), default=list(SETTINGS))
    parser.add_argument("--designs", nargs="+", choices=("before", "after"), default=["before", "after"])
    parser.add_argument("--out", default=str(DEFAULT_OUT), help="output prefix (.md/.json/.png)")
    parser.add_argument("--smoke-test", action="store_true", help="CI size: local2, 2 trials per GAN, temp output")
    args = parser.parse_args(argv)
    import ray

    settings = {s: dict(SETTINGS[s]) for s in (["local2"] if args.smoke_test else args.setting)}
    if args.smoke_test:
        settings["local2"].update(SMOKE["local2"])
    out = Path(tempfile.mkdtemp()) / "utilisation" if args.smoke_test else Path(args.out)
    store = out.with_suffix(".json")
    results = json.loads(store.read_text()) if store.is_file() and not args.smoke_test else {}
    for name, setting in settings.items():
        work = Path(tempfile.mkdtemp(prefix=f"util-{name}-"))
        cluster = start_ray(setting)
        try:
            for design in args.designs:
                t = time.time()
                metrics, parts = run(design, setting, work, GANS[:2] if args.smoke_test else GANS)
                results.setdefault(name, {})[design] = {**metrics, "parts": parts, "setting": setting}
                print(f"{name} {design}: utilisation {metrics['utilisation']:.3f} "
                      f"({time.time() - t:.0f} s)", flush=True)
        finally:
            ray.shutdown()
            if cluster is not None:
                cluster.shutdown()
    complete = {s: d for s, d in results.items() if {"before", "after"} <= d.keys()}
    out.parent.mkdir(parents=True, exist_ok=True)
    store.write_text(json.dumps(results, indent=1))
    out.with_suffix(".md").write_text(render(complete))
    if complete:
        plot(complete, out.with_suffix(".png"))
    print(render(complete), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

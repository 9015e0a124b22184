"""GPU check (<= 8 minutes on one CUDA device, no internet): what a cluster user needs to trust.

1. Step time per GAN: SN-DCGAN 32x32, batch 64 (the CPU benchmarks' shapes), TF32 and
   ``cudnn.benchmark`` on, against the same step on one CPU thread (``--cpu-steps``; the ratio is
   the speed-up a study gets from a GPU trial). Data: a folder of random 32x32 PNGs written here
   (``data.name = "folder"``: nothing to download). Then each ``run.perf`` option (bf16,
   channels_last, both, compile) against the default step: step time, speed-up, peak memory.
2. A 4-trial study (grid25, 1,000 steps, ``resources.gpu = 0.25``, 4 at once) on local Ray with
   one GPU: every trial must report ``device = cuda`` in its ``placements`` tag, and their
   MLflow run times must overlap (four trials sharing the device).
3. One evaluation with the domain extractor (the MNIST classifier, 10,000 generated digits) on the
   GPU, timed against the same on CPU; needs the MNIST files (``data.root``); skipped when absent.

Writes ``benchmarks/results/gpu.md``. Without a CUDA device it says so on one line and exits
with status 2 (``--smoke-test`` runs every part on CPU at a tiny size, output to a temp dir: CI)::

    python benchmarks/gpu.py                    # on the GPU machine
    python benchmarks/gpu.py --smoke-test       # the code paths on CPU, tiny
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere

import numpy as np  # noqa: E402
import torch  # noqa: E402

from trainables.config import REPO_ROOT, default_data_root  # noqa: E402
from trainables.loop import GanRun  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
GANS = ("nsgan", "tripletgan", "mlgan", "mbgan", "gngan", "mmd_rep")
FULL = {"steps": 30, "warmup": 10, "cpu_steps": 2, "width": 1.0, "study_steps": 1000, "eval_samples": 10000,
        "skip_options": ()}
SMOKE = {"steps": 2, "warmup": 1, "cpu_steps": 1, "width": 0.125, "study_steps": 20, "eval_samples": 200,
         "skip_options": ("compile",)}  # compiling takes longer than the rest of the smoke test
EXIT_NO_CUDA = 2


def random_image_folder(root: Path, n: int = 256) -> Path:
    """``n`` random 32x32 RGB PNGs (a flat ``folder`` dataset)."""
    from PIL import Image

    rng = np.random.default_rng(0)
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(root / f"{i:04d}.png")
    return root


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def step_seconds(gan: str, device: str, folder: Path, steps: int, warmup: int, width: float,
                 perf: dict | None = None) -> float:
    """Median seconds of one training iteration of ``gan`` (SN-DCGAN 32x32, batch 64) on ``device``
    with the ``run.perf`` options ``perf``."""
    run = GanRun({"gan": gan, "device": device, "seed": 0, "perf": perf or {},
                  "data": {"name": "folder", "root": str(folder), "image_size": 32, "batch_size": 64},
                  "net": {"arch": "sndcgan", "sn": "pim", "kwargs": {"width": width}}})
    for _ in range(warmup):
        run.train_step()
    times = []
    for _ in range(steps):
        _sync(device)
        t0 = time.perf_counter()
        run.train_step()
        _sync(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


# run.perf options timed against the default step (compile is refused for double-backward losses)
OPTIONS = {"default": {}, "bf16": {"amp": "bf16"}, "channels_last": {"channels_last": True},
           "bf16 + channels_last": {"amp": "bf16", "channels_last": True}, "compile": {"compile": True}}
OPTION_GANS = ("nsgan", "mmd_rep", "tripletgan", "wgan_gp")


def option_rows(device: str, folder: Path, args) -> list[dict]:
    """Per GAN and ``run.perf`` option: median step time, speed-up over the default step and (CUDA)
    peak memory allocated by the step."""
    from trainables.registry import get_gan

    rows = []
    for gan in OPTION_GANS:
        base = None
        for name, perf in OPTIONS.items():
            if (perf.get("compile") and get_gan(gan).objective.double_backward) or name in args.skip_options:
                continue
            if device.startswith("cuda"):
                torch.cuda.empty_cache()
                torch.cuda.reset_peak_memory_stats()
            sec = step_seconds(gan, device, folder, args.steps, args.warmup, args.width, perf)
            mem = torch.cuda.max_memory_allocated() / 2**20 if device.startswith("cuda") else None
            base = sec if name == "default" else base
            rows.append({"gan": gan, "option": name, "step_s": sec, "speedup": base / sec, "peak_mib": mem})
            print(f"{gan} {name}: {1000 * sec:.1f} ms/step ({base / sec:.2f}x)", flush=True)
    return rows


def study_on_one_device(work: Path, steps: int, gpu: float, device: str) -> dict:
    """Run a 4-trial grid25 study at ``gpu`` per trial, 4 at once; return each trial's device(s)
    and the longest stretch during which all of them ran at once (from the MLflow run times)."""
    import ray
    from mlflow import MlflowClient

    from study.lifecycle import run_study
    from study.study_file import parse_study

    doc = {"name": "gpu-check", "gans": ["mmd_rep", "tripletgan"], "max_concurrent": 4,
           "storage_path": str(work / "studies"),
           "run": {"steps": steps, "device": device, "data": {"name": "grid25"}, "eval": {"every": steps // 2}},
           "search": {"samples_per_gan": 2, "seed": 0}, "scheduler": {"type": "none"},
           "resources": {"cpu": 1, "gpu": gpu}, "mlflow": {"register_model": False}}
    study = parse_study(doc)
    t0 = time.time()
    run_study(study)
    wall = time.time() - t0
    if ray.is_initialized():
        ray.shutdown()
    state = json.loads((study.study_dir / "study_state.json").read_text())
    client = MlflowClient(state["tracking_uri"])
    runs = client.search_runs([state["experiment_id"]], f"tags.`mlflow.parentRunId` = '{state['parent_run_id']}'")
    devices = sorted({p["device"] for r in runs for p in json.loads(r.data.tags.get("placements", "[]"))})
    start = max(r.info.start_time for r in runs)
    end = min(r.info.end_time for r in runs)
    return {"trials": len(runs), "devices": devices, "all_at_once_s": max(0.0, (end - start) / 1000),
            "wall_s": wall, "statuses": sorted({r.info.status for r in runs})}


def evaluation_seconds(device: str, num_samples: int, data_root: Path, cache: Path) -> float | None:
    """Seconds of one MNIST evaluation (domain FID, KID off, precision/recall, class balance) of
    ``num_samples`` digits on ``device``; None without the MNIST files."""
    from trainables.evaluation import build_evaluator

    if not (data_root / "MNIST" / "raw" / "t10k-images-idx3-ubyte").exists():
        return None
    run = GanRun({"gan": "nsgan", "device": device, "data": {"name": "mnist", "root": str(data_root)},
                  "eval": {"num_samples": num_samples, "kid_subsets": 0, "cache_dir": str(cache)}})
    evaluator = build_evaluator(run)
    evaluator.evaluate(run)  # real statistics computed (or read) and the extractor warmed up
    _sync(device)
    t0 = time.perf_counter()
    evaluator.evaluate(run)
    _sync(device)
    return time.perf_counter() - t0


def render_options(rows: list[dict]) -> list[str]:
    lines = ["", "`run.perf` options, same nets and batch (speed-up over the GAN's default step; peak memory "
             "allocated by the step on CUDA):", "", "| GAN | option | step (ms) | speed-up | peak memory (MiB) |",
             "|---|---|---|---|---|"]
    for r in rows:
        mem = f"{r['peak_mib']:.0f}" if r["peak_mib"] is not None else "-"
        lines.append(f"| {r['gan']} | {r['option']} | {1000 * r['step_s']:.2f} | {r['speedup']:.2f}x | {mem} |")
    return lines


def render(rows: list[dict], study: dict, evals: dict, args, device_name: str) -> str:
    lines = ["# GPU check", "", f"Device: {device_name}. SN-DCGAN 32x32 (channel width x{args.width}), batch 64, "
             "TF32 and cudnn.benchmark on; median of "
             f"{args.steps} steps after {args.warmup} warm-up steps (CPU: {args.cpu_steps} steps, 1 thread).", "",
             "| GAN | step on GPU (ms) | step on CPU (ms) | speed-up |", "|---|---|---|---|"]
    for r in rows:
        cpu = f"{1000 * r['cpu']:.0f}" if r["cpu"] else "-"
        ratio = f"{r['cpu'] / r['gpu']:.0f}x" if r["cpu"] else "-"
        lines.append(f"| {r['gan']} | {1000 * r['gpu']:.1f} | {cpu} | {ratio} |")
    lines += render_options(args.option_rows)
    lines += ["", f"Study: {study['trials']} trials (mmd_rep, tripletgan; grid25, {args.study_steps} steps) at "
              f"`resources.gpu = {args.gpu}`, 4 at once: devices {', '.join(study['devices'])}; all four ran at "
              f"once for {study['all_at_once_s']:.1f} s of a {study['wall_s']:.0f} s study; run statuses "
              f"{', '.join(study['statuses'])}.", ""]
    if evals.get("gpu") is None:
        lines.append("Evaluation: skipped (no MNIST files under the data root).")
    else:
        cpu = f", {evals['cpu']:.2f} s on CPU" if "cpu" in evals else ""
        lines.append(f"Evaluation ({args.eval_samples} generated digits, MNIST-classifier FID + precision/recall "
                     f"+ class balance): {evals['gpu']:.2f} s on {device_name}{cpu}.")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke-test", action="store_true", help="every part on CPU, tiny, temp output (CI)")
    parser.add_argument("--gpu", type=float, default=0.25, help="resources.gpu of the study's trials")
    parser.add_argument("--out", default=str(RESULTS / "gpu.md"))
    parser.add_argument("--cache-dir", default=str(REPO_ROOT / ".cache" / "metrics"),
                        help="statistics / MNIST-classifier cache (trained there on first use)")
    args = parser.parse_args(argv)
    size = SMOKE if args.smoke_test else FULL
    for key, value in size.items():
        setattr(args, key, value)
    if args.smoke_test:
        device, args.gpu, device_name = "cpu", 0.0, "CPU (smoke test: no CUDA device used)"
        args.out = str(Path(tempfile.mkdtemp()) / "gpu.md")
    elif not torch.cuda.is_available():
        print("gpu check: no CUDA device found (torch.cuda.is_available() is False); nothing measured, "
              "nothing written. Run it on a GPU machine, or --smoke-test to exercise it on CPU.", flush=True)
        return EXIT_NO_CUDA
    else:
        device, device_name = "cuda", torch.cuda.get_device_name(0)
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True
    work = Path(tempfile.mkdtemp(prefix="gpu-check-"))
    folder = random_image_folder(work / "images")
    rows = []
    for gan in GANS:
        gpu = step_seconds(gan, device, folder, args.steps, args.warmup, args.width)
        cpu = None
        if device != "cpu":
            threads = torch.get_num_threads()
            torch.set_num_threads(1)
            cpu = step_seconds(gan, "cpu", folder, args.cpu_steps, 1, args.width)
            torch.set_num_threads(threads)
        rows.append({"gan": gan, "gpu": gpu, "cpu": cpu})
        print(f"{gan}: {1000 * gpu:.1f} ms/step on {device}" + (f", {1000 * cpu:.0f} ms on CPU" if cpu else ""),
              flush=True)
    args.option_rows = option_rows(device, folder, args)
    study = study_on_one_device(work, args.study_steps, args.gpu, device)
    print(f"study: {study}", flush=True)
    cache = Path(args.cache_dir)
    evals = {"gpu": evaluation_seconds(device, args.eval_samples, Path(default_data_root()), cache)}
    if evals["gpu"] is not None and device != "cpu":
        evals["cpu"] = evaluation_seconds("cpu", args.eval_samples, Path(default_data_root()), cache)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(rows, study, evals, args, device_name))
    print(out.read_text(), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

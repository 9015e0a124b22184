"""GPU check (about 5 minutes on one CUDA device, no internet): what a cluster user needs to trust.

Each part is timed with the device synchronised before and after, runs on its own (a failing part
is written down with its one-line error and the rest still runs), and the results file is
rewritten after every part:

1. ``loop``: steps/s of the project's training step (``GanRun.train_step`` + ``LossWatch``)
   against a minimal hand-written loop with the same nets (``benchmarks/loop_speed.py``), toy and
   SN-DCGAN (MNIST, width 1/8, batch 64), nsgan and mmd_rep.
2. ``syncs``: host synchronisations per training step as CUDA reports them (sync debug mode,
   ``trainables.device.CudaSyncs``), every GAN, toy and conv, over 50 steps.
3. ``steps``: SN-DCGAN 32x32 at full width, batch 64, per GAN, against the machine's CPU (all threads).
4. ``options``: each ``run.perf`` option (bf16, channels_last, both, compile) against the default
   step: step time, speed-up, peak memory allocated.
5. ``data``: MNIST held on the GPU (``data.on_device = "auto"``) against pinned host copies.
6. ``study``: 2 trials per GPU (``resources.gpu = 0.5``, 2 at once) on local Ray: each trial's
   device from its ``placements`` tag and how long both ran at once (MLflow run times).
7. ``eval``: one MNIST evaluation (10,000 generated digits) on the GPU and on CPU.

Writes ``benchmarks/results/gpu.md`` (+ ``.json``). Without a CUDA device it says so on one line
and exits with status 2 (``--smoke-test`` runs every part on CPU at a tiny size into a temp dir)::

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
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere

import numpy as np  # noqa: E402
import torch  # noqa: E402

from benchmarks import loop_speed  # noqa: E402
from trainables.config import REPO_ROOT, default_data_root  # noqa: E402
from trainables.loop import GanRun  # noqa: E402
from trainables.registry import GANS as REGISTERED  # noqa: E402
from trainables.train import LossWatch  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
GANS = ("nsgan", "tripletgan", "mlgan", "mbgan", "gngan", "mmd_rep")
FULL = {"steps": 30, "warmup": 10, "cpu_steps": 1, "width": 1.0, "study_steps": 2000, "eval_samples": 10000,
        "sync_steps": 50, "loop": {"block": 50, "repeats": 7, "warmup": 20}, "skip_options": ()}
SMOKE = {"steps": 2, "warmup": 1, "cpu_steps": 1, "width": 0.125, "study_steps": 20, "eval_samples": 200,
         "sync_steps": 4, "loop": {"block": 3, "repeats": 2, "warmup": 2},
         "skip_options": ("compile",)}  # compiling takes longer than the rest of the smoke test
EXIT_NO_CUDA = 2
# run.perf options timed against the default step (compile is refused for double-backward losses)
OPTIONS = {"default": {}, "bf16": {"amp": "bf16"}, "channels_last": {"channels_last": True},
           "bf16 + channels_last": {"amp": "bf16", "channels_last": True}, "compile": {"compile": True}}
OPTION_GANS = ("nsgan", "mmd_rep", "tripletgan", "wgan_gp")
COMPILE_GANS = ("nsgan", "mmd_rep")  # compiling costs ~1 minute per GAN


def cuda(device: str) -> bool:
    return device.startswith("cuda")


def random_image_folder(root: Path, n: int = 256) -> Path:
    """``n`` random 32x32 RGB PNGs (a flat ``folder`` dataset)."""
    from PIL import Image

    rng = np.random.default_rng(0)
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(root / f"{i:04d}.png")
    return root


def conv_config(gan: str, device: str, folder: Path, width: float, perf: dict | None = None) -> dict:
    """SN-DCGAN at batch 64 on MNIST held in memory (on the GPU), else on a folder of random PNGs
    (decoded per batch on the host: then the step times include the decoding)."""
    data = ({"name": "mnist"} if mnist_present() else {"name": "folder", "root": str(folder), "image_size": 32})
    return {"gan": gan, "device": device, "seed": 0, "perf": perf or {}, "data": {**data, "batch_size": 64},
            "net": {"arch": "sndcgan", "sn": "pim", "kwargs": {"width": width}}}


def step_seconds(cfg: dict, steps: int, warmup: int) -> float:
    """Median seconds of one training iteration of the run ``cfg`` (device synchronised around each)."""
    run = GanRun(cfg)
    for _ in range(warmup):
        run.train_step()
    times = []
    for _ in range(steps):
        loop_speed.sync(cfg["device"])
        t0 = time.perf_counter()
        run.train_step()
        loop_speed.sync(cfg["device"])
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def part_loop(device: str, ctx: dict, args) -> list[dict]:
    settings = ["toy"] if args.smoke_test else list(loop_speed.SETTINGS)
    loop_args = argparse.Namespace(perf={}, **args.loop)  # the default step only (no --perf loop)
    return [loop_speed.measure(gan, setting, loop_args, device) for setting in settings for gan in loop_speed.GANS]


def part_syncs(device: str, ctx: dict, args) -> list[dict] | None:
    """Host syncs per step reported by CUDA (counted on CPU by tests/trainables/test_host_syncs.py)."""
    from trainables.device import CudaSyncs

    if not cuda(device):
        return None  # CUDA's sync debug mode only
    rows = []
    for gan in sorted(REGISTERED):
        row = {"gan": gan}
        for nets, cfg in (("toy", {"gan": gan, "device": device, "data": {"name": "grid25"}}),
                          ("conv", conv_config(gan, device, ctx["folder"], 0.125))):
            run = GanRun(cfg)
            watch = LossWatch(run.cfg.optim.loss_bound)
            run.train_step()
            loop_speed.sync(device)
            with CudaSyncs() as syncs:
                for _ in range(args.sync_steps):
                    watch.add(run.step, run.train_step())
                watch.check()
            row[nets] = syncs.count / args.sync_steps
        rows.append(row)
        print(f"syncs {gan}: toy {row['toy']:.3f}/step, conv {row['conv']:.3f}/step", flush=True)
    return rows


def part_steps(device: str, ctx: dict, args) -> list[dict]:
    rows = []
    for gan in GANS:
        gpu = step_seconds(conv_config(gan, device, ctx["folder"], args.width), args.steps, args.warmup)
        cpu = step_seconds(conv_config(gan, "cpu", ctx["folder"], args.width), args.cpu_steps, 1)
        rows.append({"gan": gan, "gpu": gpu, "cpu": cpu, "cpu_threads": torch.get_num_threads()})
        print(f"{gan}: {1000 * gpu:.2f} ms/step on {device}, {1000 * cpu:.0f} ms on CPU", flush=True)
    return rows


def part_options(device: str, ctx: dict, args) -> list[dict]:
    """Per GAN and ``run.perf`` option: median step time, speed-up over the default step, peak memory."""
    from trainables.registry import get_gan

    rows = []
    for gan in OPTION_GANS:
        base = None
        for name, perf in OPTIONS.items():
            if perf.get("compile") and (get_gan(gan).objective.double_backward or gan not in COMPILE_GANS):
                continue
            if name in args.skip_options:
                continue
            if cuda(device):
                torch.cuda.empty_cache()
                torch.cuda.reset_peak_memory_stats()
            row = {"gan": gan, "option": name}
            try:
                sec = step_seconds(conv_config(gan, device, ctx["folder"], args.width, perf), args.steps, args.warmup)
            except Exception as exc:  # one option failing (e.g. compile on this torch) must not hide the others
                rows.append({**row, "error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:160]}"})
                print(f"{gan} {name}: failed: {rows[-1]['error']}", flush=True)
                continue
            base = sec if name == "default" else base
            mem = torch.cuda.max_memory_allocated() / 2**20 if cuda(device) else None
            rows.append({**row, "step_s": sec, "speedup": base / sec, "peak_mib": mem})
            print(f"{gan} {name}: {1000 * sec:.2f} ms/step ({base / sec:.2f}x)", flush=True)
    return rows


def part_data(device: str, ctx: dict, args) -> list[dict] | None:
    """MNIST SN-DCGAN (width 1/8, batch 64, nsgan) steps with the set held on the device vs pinned copies."""
    if not mnist_present():
        return None
    rows = []
    for policy in ("auto", "never"):
        cfg = {"gan": "nsgan", "device": device, "seed": 0, **loop_speed.SETTINGS["conv"]}
        cfg["data"] = {**cfg["data"], "on_device": policy}
        held = GanRun(cfg).stream.held is not None
        sec = step_seconds(cfg, args.steps * 3, args.warmup)
        rows.append({"on_device": policy, "held": held, "step_s": sec})
        print(f"data.on_device = {policy}: held {held}, {1000 * sec:.2f} ms/step", flush=True)
    return rows


def mnist_present() -> bool:
    return (Path(default_data_root()) / "MNIST" / "raw" / "t10k-images-idx3-ubyte").exists()


def part_study(device: str, ctx: dict, args) -> dict:
    """A 2-trial grid25 study at ``resources.gpu`` = args.gpu, 2 at once; each trial's device(s)
    and the longest stretch during which both ran (from the MLflow run times)."""
    import ray

    from study.lifecycle import run_study
    from study.study_file import parse_study
    from study.tracking import TAG_PLACEMENTS, children

    doc = {"name": "gpu-check", "gans": ["mmd_rep", "tripletgan"], "max_concurrent": 2,
           "storage_path": str(ctx["work"] / "studies"),
           "run": {"steps": args.study_steps, "device": device, "data": {"name": "grid25"},
                   "eval": {"every": args.study_steps // 2}},
           "search": {"samples_per_gan": 1, "seed": 0}, "scheduler": {"type": "none"},
           "resources": {"cpu": 1, "gpu": args.gpu}, "mlflow": {"register_model": False}}
    study = parse_study(doc)
    t0 = time.time()
    try:
        run_study(study)
    finally:
        if ray.is_initialized():
            ray.shutdown()
    wall = time.time() - t0
    state = json.loads((study.study_dir / "study_state.json").read_text())
    runs = children(state["tracking_uri"], state["experiment_id"], state["parent_run_id"])
    devices = sorted({p["device"] for r in runs for p in json.loads(r.data.tags.get(TAG_PLACEMENTS, "[]"))})
    start = max(r.info.start_time for r in runs)
    end = min(r.info.end_time or start for r in runs)
    out = {"trials": len(runs), "devices": devices, "together_s": max(0.0, (end - start) / 1000), "wall_s": wall,
           "statuses": sorted({r.info.status for r in runs})}
    print(f"study: {out}", flush=True)
    return out


def evaluation_seconds(device: str, num_samples: int, cache: Path) -> float:
    """Seconds of one MNIST evaluation (domain FID, precision/recall, class balance) of ``num_samples``."""
    from trainables.evaluation import build_evaluator

    run = GanRun({"gan": "nsgan", "device": device, "data": {"name": "mnist"},
                  "eval": {"num_samples": num_samples, "kid_subsets": 0, "cache_dir": str(cache)}})
    evaluator = build_evaluator(run)
    evaluator.evaluate(run)  # real statistics computed (or read) and the extractor warmed up
    loop_speed.sync(device)
    t0 = time.perf_counter()
    evaluator.evaluate(run)
    loop_speed.sync(device)
    return time.perf_counter() - t0


def part_eval(device: str, ctx: dict, args) -> dict | None:
    if not mnist_present():
        return None
    out = {"device": evaluation_seconds(device, args.eval_samples, Path(args.cache_dir))}
    if cuda(device):
        out["cpu"] = evaluation_seconds("cpu", args.eval_samples, Path(args.cache_dir))
    print(f"evaluation: {out}", flush=True)
    return out


PARTS = {"loop": part_loop, "syncs": part_syncs, "steps": part_steps, "data": part_data, "study": part_study,
         "eval": part_eval, "options": part_options}  # options last: compiling is the slowest part


def main(argv=None) -> int:
    from benchmarks._gpu_report import render

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke-test", action="store_true", help="every part on CPU, tiny, temp output (CI)")
    parser.add_argument("--gpu", type=float, default=0.5, help="resources.gpu of the study's trials")
    parser.add_argument("--parts", nargs="+", default=list(PARTS), choices=list(PARTS))
    parser.add_argument("--out", default=str(RESULTS / "gpu"), help="output prefix (.md/.json)")
    parser.add_argument("--cache-dir", default=str(REPO_ROOT / ".cache" / "metrics"),
                        help="statistics / MNIST-classifier cache (trained there on first use)")
    args = parser.parse_args(argv)
    for key, value in (SMOKE if args.smoke_test else FULL).items():
        setattr(args, key, value)
    if args.smoke_test:
        device, args.gpu, device_name = "cpu", 0.0, "CPU (smoke test: no CUDA device used)"
        args.out = str(Path(tempfile.mkdtemp()) / "gpu")
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
    ctx = {"work": work, "folder": random_image_folder(work / "images")}
    results = {"device": device_name, "torch": torch.__version__, "args": {k: v for k, v in vars(args).items()},
               "seconds": {}, "errors": {}}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    for name in args.parts:
        t0 = time.time()
        try:
            results[name] = PARTS[name](device, ctx, args)
        except Exception as exc:  # written down; the other parts still run
            traceback.print_exc()
            results["errors"][name] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
        results["seconds"][name] = time.time() - t0
        print(f"== part {name}: {results['seconds'][name]:.0f} s", flush=True)
        out.with_suffix(".json").write_text(json.dumps(results, indent=1, default=str))
        out.with_suffix(".md").write_text(render(results))
    print(out.with_suffix(".md").read_text(), flush=True)
    return 1 if results["errors"] else 0


if __name__ == "__main__":
    raise SystemExit(main())

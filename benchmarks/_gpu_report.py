"""Markdown of the GPU check's results (``benchmarks/gpu.py``): one section per part, each part's
error in place of its table when it failed."""

from __future__ import annotations


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + ["| " + " | ".join(r) + " |" for r in rows]


def _loop(rows) -> list[str]:
    return ["The project's step (`GanRun.train_step` + `LossWatch`) against a minimal hand-written loop with "
            "the same nets (`benchmarks/loop_speed.py`: blocks of 50 steps, median of 7, alternated):", ""] + _table(
        ["GAN", "nets", "project steps/s", "minimal steps/s", "ratio"],
        [[r["gan"], r["nets"], f"{r['project_steps_s']:.0f}", f"{r['minimal_steps_s']:.0f}", f"{r['ratio']:.3f}"]
         for r in rows])


def _syncs(rows) -> list[str]:
    if rows is None:
        return ["Skipped: CUDA only (on CPU, tests/trainables/test_host_syncs.py counts the host reads)."]
    return ["Host synchronisations per training step reported by CUDA (`torch.cuda.set_sync_debug_mode`, "
            "every GAN's registered defaults; toy: grid25; conv: SN-DCGAN width 1/8, batch 64; the loss "
            "check every 25 steps included):", ""] + _table(
        ["GAN", "toy", "conv"], [[r["gan"], f"{r['toy']:.3f}", f"{r['conv']:.3f}"] for r in rows])


def _steps(rows) -> list[str]:
    threads = rows[0].get("cpu_threads", "?") if rows else "?"
    return [f"SN-DCGAN 32x32 at full width, batch 64, TF32 and cudnn.benchmark on (median step; CPU: the same "
            f"machine's processor, {threads} threads, one step after one warm-up):", ""] + _table(["GAN", "step on GPU (ms)", "step on CPU (ms)", "speed-up"],
                         [[r["gan"], f"{1000 * r['gpu']:.2f}", f"{1000 * r['cpu']:.0f}", f"{r['cpu'] / r['gpu']:.0f}x"]
                          for r in rows])


def _options(rows) -> list[str]:
    body = []
    for r in rows:
        if "error" in r:
            body.append([r["gan"], r["option"], "failed", "-", r["error"].replace("|", "/")])
            continue
        mem = f"{r['peak_mib']:.0f}" if r.get("peak_mib") is not None else "-"
        body.append([r["gan"], r["option"], f"{1000 * r['step_s']:.2f}", f"{r['speedup']:.2f}x", mem])
    return ["`run.perf` options on the same nets (speed-up over the GAN's default step; peak memory allocated "
            "by the step):", ""] + _table(["GAN", "option", "step (ms)", "speed-up", "peak memory (MiB)"], body)


def _data(rows) -> list[str]:
    if rows is None:
        return ["Skipped: no MNIST files under the data root."]
    return ["MNIST SN-DCGAN (width 1/8, batch 64, nsgan): the training set held on the GPU against pinned "
            "host copies per batch:", ""] + _table(
        ["data.on_device", "held on the GPU", "step (ms)"],
        [[r["on_device"], str(r["held"]), f"{1000 * r['step_s']:.2f}"] for r in rows])


def _study(s) -> list[str]:
    return [f"{s['trials']} trials (mmd_rep, tripletgan; grid25) at `resources.gpu = 0.5`, 2 at once: devices "
            f"{', '.join(s['devices']) or '-'}; both ran at once for {s['together_s']:.1f} s of a "
            f"{s['wall_s']:.0f} s study; run statuses {', '.join(s['statuses'])}."]


def _eval(e) -> list[str]:
    if e is None:
        return ["Skipped: no MNIST files under the data root."]
    cpu = f", {e['cpu']:.2f} s on CPU" if "cpu" in e else ""
    return [f"One evaluation (MNIST-classifier FID + precision/recall + class balance): {e['device']:.2f} s on the "
            f"device{cpu}."]


SECTIONS = {"loop": ("Loop overhead", _loop), "syncs": ("Host syncs", _syncs), "steps": ("Step time", _steps),
            "options": ("Performance options", _options), "data": ("Data on the device", _data),
            "study": ("Two trials per GPU", _study), "eval": ("Evaluation", _eval)}


def render(results: dict) -> str:
    lines = ["# GPU check", "", f"Device: {results['device']}; torch {results['torch']}. Written by "
             "`python benchmarks/gpu.py` (one command; each part timed with the device synchronised).", ""]
    lines += [*results.get("notes", []), ""] if results.get("notes") else []
    for key, (title, fn) in SECTIONS.items():
        if key not in results["seconds"]:
            continue
        lines += [f"## {title} ({results['seconds'][key]:.0f} s)", ""]
        if key in results["errors"]:
            lines.append(f"Failed: `{results['errors'][key]}`")
        else:
            lines += fn(results[key])
        lines.append("")
    return "\n".join(lines)

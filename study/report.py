"""Results of a study: leaderboard (best trial per GAN), tables, curve plots, sample images.

The leaderboard is computed from MLflow (the source of truth across retries and resumes): for
each child run of the study's parent, the ranked evaluation of its primary metric under the
study's :class:`~trainables.ranking.RankRule` (tag ``rank_rule``; default: the best evaluation
after step 0, the first step reaching it, which is the one saved in ``best.pt``); per GAN the
best run wins (ties: earlier step, then fewer steps trained).
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import numpy as np
import torch

from study.tracking import (TAG_DIVERGED_AT, TAG_GAN, TAG_MODE, TAG_PRIMARY, TAG_RANK, TAG_SEARCHED,
                            TAG_STOP_REASON, TAG_TRIAL_ID, children, client_for)
from trainables.config import DataConfig
from trainables.data.image_tensors import to_uint8
from trainables.data.toy import mixture_of
from trainables.evaluation import IMAGE_KEYS
from trainables.metric_names import (BEST_STEP, EVAL_FID, EVAL_HQ, EVAL_KID, EVAL_KL, EVAL_MODES_20,
                                     TRAINED_EVALS, TRAINED_STEPS, best_of)
from trainables.plots import image_grid, scatter_plot
from trainables.ranking import RankRule, better

# Extra columns of the leaderboard table (values at the ranked step), the optimised one left out.
TOY_COLUMNS = (EVAL_MODES_20, EVAL_HQ, EVAL_KL)
IMAGE_COLUMNS = (EVAL_FID, EVAL_KID)


def extra_columns(metric: str) -> tuple[str, ...]:
    group = IMAGE_COLUMNS if metric in IMAGE_KEYS.values() else TOY_COLUMNS
    return tuple(k for k in group if k != metric)


def best_of_run(client, run) -> dict | None:
    """``{value, step, steps_trained, points, extras}`` of a child run's ranked evaluation of its
    primary metric under its rank rule (tag ``rank_rule``); None when no evaluation can rank.

    Read from the ``best/...`` metrics the trial logs at each evaluation (the run's latest values,
    already in ``search_runs``' answer); runs logged before those existed fall back to the
    metric histories."""
    metric, mode = run.data.tags.get(TAG_PRIMARY), run.data.tags.get(TAG_MODE) or "max"
    if not metric:
        return None
    latest = run.data.metrics
    if best_of(metric) in latest and BEST_STEP in latest:
        extras = {k: latest[best_of(k)] for k in extra_columns(metric) if best_of(k) in latest}
        return {"value": latest[best_of(metric)], "step": int(latest[BEST_STEP]),
                "steps_trained": int(latest.get(TRAINED_STEPS, latest[BEST_STEP])),
                "points": int(latest.get(TRAINED_EVALS, 0)), "extras": extras}
    rule = RankRule(**json.loads(run.data.tags.get(TAG_RANK) or "{}"))
    history = sorted((m.step, m.value) for m in client.get_metric_history(run.info.run_id, metric))
    best = rule.select(history, mode)
    if best is None:
        return None
    extras = {}
    for key in extra_columns(metric):
        points = [m.value for m in client.get_metric_history(run.info.run_id, key) if m.step == best[0]]
        if points:
            extras[key] = points[-1]
    return {"value": best[1], "step": best[0], "steps_trained": history[-1][0],
            "points": len(history), "extras": extras}


def leaderboard(uri: str, experiment_id: str, parent_run_id: str) -> list[dict]:
    """One row per GAN (its best trial), best GAN first. Row keys: rank, gan, metric, mode,
    value, step, steps_trained, run_id, trial_id, status, stop_reason, config (searched
    params), extras (other eval metrics at that step), trials, early_stopped, failed, diverged,
    trial_values (the ranked value of every trial of the GAN that has one, oldest first).
    Diverged runs (tag ``diverged_at_step``) are counted but never ranked."""
    client = client_for(uri)
    per_gan: dict[str, dict] = {}
    counts: dict[str, dict] = {}
    values: dict[str, list[float]] = {}  # every ranked trial's value, per GAN (budget curves)
    for run in children(uri, experiment_id, parent_run_id):
        tags = run.data.tags
        if tags.get(TAG_STOP_REASON) == "orphaned":  # lost by a killed driver, replaced on resume
            continue
        gan = tags.get(TAG_GAN, "?")
        c = counts.setdefault(gan, {"trials": 0, "early_stopped": 0, "failed": 0, "diverged": 0})
        c["trials"] += 1
        c["early_stopped"] += tags.get(TAG_STOP_REASON) == "early_stopped"
        c["failed"] += run.info.status == "FAILED"
        if TAG_DIVERGED_AT in tags:
            c["diverged"] += 1
            continue
        best = best_of_run(client, run)
        if best is None:
            continue
        mode = tags.get(TAG_MODE, "max")
        values.setdefault(gan, []).append(best["value"])
        row = {"gan": gan, "metric": tags.get(TAG_PRIMARY), "mode": mode, **best,
               "run_id": run.info.run_id, "trial_id": tags.get(TAG_TRIAL_ID),
               "status": run.info.status, "stop_reason": tags.get(TAG_STOP_REASON, ""),
               "config": json.loads(tags.get(TAG_SEARCHED) or "{}")}
        old = per_gan.get(gan)
        if old is None or better(row["value"], old["value"], mode) or (
                row["value"] == old["value"] and (row["step"], row["steps_trained"])
                < (old["step"], old["steps_trained"])):
            per_gan[gan] = row
    rows = list(per_gan.values())
    for row in rows:
        row.update(counts[row["gan"]])
        row["trial_values"] = values[row["gan"]]
    sign = {"max": -1.0, "min": 1.0}
    rows.sort(key=lambda r: (sign.get(r["mode"], 1.0) * r["value"], r["step"]))
    for i, row in enumerate(rows, 1):
        row["rank"] = i
    return rows


def figures_line(row: dict, study) -> str:
    """``: 17/25 modes with >= 20 HQ points, 58% HQ, KL 0.05`` for a toy row ('' otherwise)."""
    extras = row.get("extras", {})
    if EVAL_MODES_20 not in extras:
        return ""

    k = mixture_of(DataConfig(name=study.dataset_name, mixture=study.data.get("mixture"))).num_modes
    parts = [f"{extras[EVAL_MODES_20]:.0f}/{k} modes with >= 20 HQ points"]
    if EVAL_HQ in extras:
        parts.append(f"{100 * extras[EVAL_HQ]:.0f}% HQ")
    if EVAL_KL in extras:
        parts.append(f"KL {extras[EVAL_KL]:.2f}")
    return ": " + ", ".join(parts)


def rung_medians(uri: str, experiment_id: str, parent_run_id: str, metric: str,
                 rungs: list[int]) -> dict[int, float]:
    """Median of ``metric`` at each ASHA rung over the trials that reached it (what ASHA compared)."""
    client = client_for(uri)
    at: dict[int, list[float]] = {r: [] for r in rungs}
    for run in children(uri, experiment_id, parent_run_id):
        if run.data.tags.get(TAG_STOP_REASON) == "orphaned":
            continue
        values = {m.step: m.value for m in client.get_metric_history(run.info.run_id, metric)}
        for r in rungs:
            if r in values:
                at[r].append(values[r])
    return {r: statistics.median(v) for r, v in at.items() if v}


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def format_table(rows: list[dict], *, markdown: bool = False) -> str:
    """The leaderboard as a fixed-width text table (or a Markdown table)."""
    if not rows:
        return "(no finished evaluations yet)"
    extra_keys = [k for k in dict.fromkeys(k for r in rows for k in r["extras"])]
    head = (["rank", "gan", rows[0]["metric"] + f" ({rows[0]['mode']})", "step"]
            + extra_keys + ["trials", "early", "failed", "diverged", "mlflow run", "config"])
    body = []
    for r in rows:
        config = ", ".join(f"{k.split('.')[-1]}={_fmt(v)}" for k, v in sorted(r["config"].items()))
        body.append([str(r["rank"]), r["gan"], _fmt(r["value"]), str(r["step"])]
                    + [_fmt(r["extras"].get(k, "")) for k in extra_keys]
                    + [str(r["trials"]), str(r["early_stopped"]), str(r["failed"]),
                       str(r.get("diverged", 0)), r["run_id"], config])
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(row) + " |" for row in body]
        return "\n".join(lines)
    widths = [max(len(h), *(len(row[i]) for row in body)) for i, h in enumerate(head[:-1])]
    lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths)) + "  " + head[-1]]
    for row in body:
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths)) + "  " + row[-1])
    return "\n".join(lines)


BUDGET_KS = (1, 4, 12)  # trials at which the budget table reads each GAN's curve (and the last)
BUDGET_PLOT = "budget_curves.png"  # beside leaderboard.md and on the parent run


def format_budget(rows: list[dict], *, markdown: bool = False) -> str:
    """Expected best after k trials (with the 95% band) per GAN, from ``row["budget"]``."""
    rows = [r for r in rows if r.get("budget")]
    if not rows:
        return ""
    n = max(r["budget"]["n"] for r in rows)
    ks = sorted({k for k in BUDGET_KS if k <= n} | {n})
    head = ["gan", "trials"] + [f"k={k}" for k in ks]
    body = []
    for r in rows:
        c = r["budget"]
        body.append([r["gan"], str(c["n"])] + [
            f"{c['mean'][k - 1]:.4g} [{c['lo'][k - 1]:.3g}, {c['hi'][k - 1]:.3g}]" if k <= c["n"] else "-"
            for k in ks])
    title = f"expected best {rows[0]['metric']} after k trials [95% bootstrap band]"
    if markdown:
        return (f"\n## {title[0].upper() + title[1:]}\n\n![budget curves]({BUDGET_PLOT})\n\n| "
                + " | ".join(head) + " |\n|" + "---|" * len(head) + "\n"
                + "".join("| " + " | ".join(b) + " |\n" for b in body))
    widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(head)]
    return "\n".join([title] + ["  ".join(c.ljust(w) for c, w in zip(line, widths)) for line in [head] + body])


def format_importance(rows: list[dict]) -> str:
    """Markdown section: each GAN's fANOVA importances (``row["importances"]``), largest first."""
    rows = [r for r in rows if r.get("importances")]
    if not rows:
        return ""
    lines = ["", "## Hyperparameter importance (fANOVA share of the metric's variance)", ""]
    for r in rows:
        lines.append(f"- **{r['gan']}**: " + ", ".join(f"`{k}` {v:.2f}" for k, v in r["importances"].items()))
    return "\n".join(lines) + "\n"


NOTE_TAG = "mlflow.note.content"  # a run's description in the MLflow UI (Markdown)


def front_page(rows: list[dict], study_name: str, experiment_id: str) -> str:
    """The parent run's description: the leaderboard with a link to each GAN's best trial, the
    budget curves and the importances (Markdown, shown on the run's page in the MLflow UI)."""
    table = format_table(rows, markdown=True)
    for row in rows:
        rid = row["run_id"]
        table = table.replace(f"| {rid} |", f"| [{row['gan']} best](#/experiments/{experiment_id}/runs/{rid}) |")
    return (f"# Study {study_name}\n\nBest trial of each GAN (artifacts: `leaderboard.md`, "
            f"`study.yaml`, `{BUDGET_PLOT}`):\n\n{table}\n{format_budget(rows, markdown=True)}"
            f"{format_importance(rows)}")


def save_leaderboard(rows: list[dict], study_dir: Path) -> list[Path]:
    """Write ``leaderboard.md`` and ``leaderboard.json`` into the study directory."""
    study_dir = Path(study_dir)
    md, js = study_dir / "leaderboard.md", study_dir / "leaderboard.json"
    md.write_text(format_table(rows, markdown=True) + "\n" + format_budget(rows, markdown=True)
                  + format_importance(rows))
    js.write_text(json.dumps(rows, indent=2, default=str) + "\n")
    return [md, js]


SAMPLES_KEY = "samples"  # array name inside a ``.npz`` written by ``study sample -o out.npz``


def sample_output_kind(path: str) -> str:
    """How ``study sample -o PATH`` writes: ``npz`` (raw array), ``dir`` (one PNG per image,
    PATH ends with '/' or is an existing folder) or ``png`` (a scatter plot / an image grid)."""
    if path.endswith(".npz"):
        return "npz"
    if path.endswith(("/", "\\")) or Path(path).is_dir():
        return "dir"
    if not path.lower().endswith(".png"):
        raise ValueError(f"-o {path!r}: accepted outputs are FILE.png (plot or grid), FILE.npz "
                         f"(raw samples) or DIR/ (one PNG per image)")
    return "png"


def save_samples(run, n: int, path: str, seed: int = 0) -> Path:
    """Write ``n`` samples of a rebuilt run's generator (seeded noise) as :func:`sample_output_kind`
    says: ``.npz`` holds key ``samples`` (toy: (n, 2) float32; images: uint8 NCHW in [0, 255]);
    ``DIR/`` holds ``000000.png``... (images only: the folder torch-fidelity's ``--input1`` reads);
    ``.png`` is :func:`save_sample_image`'s plot or grid."""
    kind = sample_output_kind(path)
    if kind == "png":
        return save_sample_image(run, n, Path(path), seed=seed)
    samples = _generate(run, n, seed)
    if not run.cfg.is_toy:
        samples = to_uint8(samples)
    if kind == "npz":
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(out, **{SAMPLES_KEY: samples.numpy()})  # toy float32, images uint8
        return out
    if run.cfg.is_toy:
        raise ValueError(f"-o {path!r}: a folder of PNGs holds images; {run.cfg.data.name} samples are "
                         f"2D points: use FILE.npz or FILE.png")
    from PIL import Image

    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    for i, image in enumerate(samples.numpy()):
        pixels = image.transpose(1, 2, 0)
        Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels).save(out / f"{i:06d}.png")
    return out


def _generate(run, n: int, seed: int):
    gen = torch.Generator().manual_seed(seed)
    return run.generate(run.sample_z(n, generator=gen).cpu())


def save_sample_image(run, n: int, path: Path, seed: int = 0) -> Path:
    """``n`` samples of a rebuilt run's generator: a scatter over the mixture's modes (toy data)
    or an image grid (``sqrt(n)`` per row). Noise is seeded (``seed``)."""
    samples = _generate(run, n, seed)
    if run.cfg.is_toy:
        title = f"{run.cfg.gan} on {run.cfg.data.name}, step {run.step}, n={n}"
        return scatter_plot(samples, mixture_of(run.cfg.data), title, Path(path))
    return image_grid(samples, Path(path))

"""Results of a study: leaderboard (best trial per GAN), tables, curve plots, sample images.

The leaderboard is computed from MLflow (the source of truth across retries and resumes): for
each child run of the study's parent, the ranked evaluation of its primary metric under the
study's :class:`~trainables.ranking.RankRule` (tag ``rank_rule``; default: the best evaluation
after step 0, the first step reaching it, which is the one saved in ``best.pt``); per GAN the
best run wins (ties: earlier step, then fewer steps trained). With ``search.repeats``, each GAN's
best configuration by its mean over seeds wins (:func:`leaderboard`).
"""

from __future__ import annotations

import functools
import json
import statistics
from pathlib import Path

import numpy as np
import torch

from study.tracking import (TAG_DIVERGED_AT, TAG_GAN, TAG_MODE, TAG_PRIMARY, TAG_RANK, TAG_REPEAT_OF,
                            TAG_SEARCHED, TAG_SEED, TAG_STOP_REASON, TAG_TRIAL_ID, children, client_for)
from trainables.config import DataConfig
from trainables.data.image_tensors import to_uint8
from trainables.data.toy import mixture_of
from trainables.metric_names import (BEST_STEP, EVAL_HQ, EVAL_KL, EVAL_MODES_20, IMAGES, TOY, TRAINED_EVALS,
                                     TRAINED_STEPS, best_of, columns, family_of_metric, raw_of)
from trainables.plots import image_grid, scatter_plot
from trainables.ranking import RankRule, better

def extra_columns(metric: str) -> tuple[str, ...]:
    """Extra columns of the leaderboard table (values at the ranked step): the metric rows flagged
    ``column`` (the optimised metric's family first; a run shows those it logged), that metric
    left out; then the raw generator's optimised metric (``eval_raw/<metric>``) when the trials
    average G (``run.ema``)."""
    first = family_of_metric(metric)
    keys = dict.fromkeys([*columns(first), *columns(IMAGES if first == TOY else TOY)])
    return tuple(k for k in keys if k != metric) + (raw_of(metric),)


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


def ranked_trials(uri: str, experiment_id: str, parent_run_id: str) -> tuple[list[dict], dict]:
    """``(trials, counts)``: one dict per child run that can rank (gan, metric, mode, value, step,
    steps_trained, points, extras, run_id, run_name, trial_id, status, stop_reason, config,
    repeat_of, seed), oldest first; ``counts[gan]`` = trials / early_stopped / failed / diverged
    of its search (repeats counted apart in ``repeat_runs``). Orphaned runs (lost by a killed
    driver) are skipped; diverged ones are counted, never ranked."""
    client = client_for(uri)
    out, counts = [], {}
    for run in children(uri, experiment_id, parent_run_id):
        tags = run.data.tags
        if tags.get(TAG_STOP_REASON) == "orphaned":  # lost by a killed driver, replaced on resume
            continue
        gan = tags.get(TAG_GAN, "?")
        c = counts.setdefault(gan, {"trials": 0, "early_stopped": 0, "failed": 0, "diverged": 0,
                                    "repeat_runs": 0})
        repeat_of = tags.get(TAG_REPEAT_OF)
        if repeat_of:
            c["repeat_runs"] += 1
        else:
            c["trials"] += 1
            c["early_stopped"] += tags.get(TAG_STOP_REASON) == "early_stopped"
        c["failed"] += run.info.status == "FAILED"
        if TAG_DIVERGED_AT in tags:
            c["diverged"] += 1
            continue
        best = best_of_run(client, run)
        if best is None:
            continue
        out.append({"gan": gan, "metric": tags.get(TAG_PRIMARY), "mode": tags.get(TAG_MODE, "max"), **best,
                    "run_id": run.info.run_id, "run_name": run.info.run_name,
                    "trial_id": tags.get(TAG_TRIAL_ID), "status": run.info.status,
                    "stop_reason": tags.get(TAG_STOP_REASON, ""),
                    "config": json.loads(tags.get(TAG_SEARCHED) or "{}"),
                    "repeat_of": repeat_of, "seed": tags.get(TAG_SEED)})
    return out, counts


def _first(a: dict, b: dict | None, key: str = "value") -> bool:
    """Does ``a`` beat ``b`` (None: nothing yet) on ``key``; ties: the earlier step, then fewer steps trained."""
    if b is None or better(a[key], b[key], a["mode"]):
        return True
    return a[key] == b[key] and (a["step"], a["steps_trained"]) < (b["step"], b["steps_trained"])


def best_first(trials: list[dict]) -> list[dict]:
    """``trials`` ordered best first by :func:`_first` (the leaderboard's comparison, ties included)."""
    return sorted(trials, key=functools.cmp_to_key(lambda a, b: -1 if _first(a, b) else 1 if _first(b, a) else 0))


def spread(row: dict) -> str:
    """``mean ± std (seeds)`` of a row ranked over repeated seeds, ``-`` otherwise."""
    return f"{row['mean']:.4g} ± {row['std']:.2g} ({row['seeds']})" if "mean" in row else "-"


def _best_configuration(trials: list[dict]) -> dict | None:
    """Among a GAN's repeated configurations (a search trial and its ``repeat_of`` runs): the
    one with the best mean over seeds, as its best single run plus ``seeds``, ``mean``, ``std``,
    ``seed_values``. None when the GAN has no repeats."""
    groups: dict[str, list[dict]] = {}
    for t in trials:
        groups.setdefault(t["repeat_of"] or t["trial_id"], []).append(t)
    best = None
    for members in groups.values():
        if len(members) < 2:
            continue  # a configuration run once (not among the top_k) does not compete with means
        values = [m["value"] for m in members]
        top = None
        for m in members:
            top = m if _first(m, top) else top
        row = {**top, "seeds": len(values), "mean": statistics.fmean(values),
               "std": statistics.stdev(values), "seed_values": values}
        best = row if _first(row, best, "mean") else best
    return best


def leaderboard(uri: str, experiment_id: str, parent_run_id: str) -> list[dict]:
    """One row per GAN (its best trial), best GAN first. Row keys: rank, gan, metric, mode,
    value, step, steps_trained, run_id, trial_id, status, stop_reason, config (searched
    params), extras (other eval metrics at that step), trials, early_stopped, failed, diverged,
    repeat_runs, trial_values (the ranked value of every search trial of the GAN that has one,
    oldest first). With ``search.repeats``, a GAN's row is its best configuration by the mean
    over seeds (``seeds``, ``mean``, ``std``, ``seed_values``; ``run_id`` / ``value``: that
    configuration's best run) and GANs are ranked by that mean. Diverged runs are counted but
    never ranked."""
    trials, counts = ranked_trials(uri, experiment_id, parent_run_id)
    rows = []
    for gan, c in counts.items():
        mine = [t for t in trials if t["gan"] == gan]
        search = [t for t in mine if not t["repeat_of"]]
        row = _best_configuration(mine)
        if row is None:
            for t in search:
                row = t if _first(t, row) else row
        if row is None:
            continue
        row.update(c)
        row["trial_values"] = [t["value"] for t in search]
        rows.append(row)
    sign = {"max": -1.0, "min": 1.0}
    rows.sort(key=lambda r: (sign.get(r["mode"], 1.0) * r.get("mean", r["value"]), r["step"]))
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
    """Median of ``metric`` at each ASHA rung over the search trials that reached it (what ASHA
    compared; repeats run without ASHA)."""
    client = client_for(uri)
    at: dict[int, list[float]] = {r: [] for r in rungs}
    for run in children(uri, experiment_id, parent_run_id):
        if run.data.tags.get(TAG_STOP_REASON) == "orphaned" or run.data.tags.get(TAG_REPEAT_OF):
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
    seeds = any("mean" in r for r in rows)  # search.repeats: mean +- std over seeds, the ranked column
    head = (["rank", "gan"] + (["mean ± std (seeds)"] if seeds else [])
            + [rows[0]["metric"] + f" ({rows[0]['mode']})" + (" best seed" if seeds else ""), "step"]
            + extra_keys + ["trials", "early", "failed", "diverged", "mlflow run", "config"])
    body = []
    for r in rows:
        config = ", ".join(f"{k.split('.')[-1]}={_fmt(v)}" for k, v in sorted(r["config"].items()))
        body.append([str(r["rank"]), r["gan"]] + ([spread(r)] if seeds else []) + [_fmt(r["value"]), str(r["step"])]
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
    return titled_table(title, ("budget curves", BUDGET_PLOT), head, body, markdown=markdown)


def titled_table(title: str, figure: tuple[str, str], head: list[str], body: list[list[str]], *,
                 markdown: bool) -> str:
    """A titled table: a Markdown section (``## Title``, the ``(alt text, file)`` figure, the
    table) or plain text (the title line, then columns padded to their widest cell)."""
    if markdown:
        alt, path = figure
        return (f"\n## {title[0].upper() + title[1:]}\n\n![{alt}]({path})\n\n| "
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


def front_page(rows: list[dict], study_name: str, experiment_id: str) -> str:
    """The parent run's description (Markdown on the run's page in the MLflow UI): a compact
    leaderboard first (rank, GAN, a link to its best trial, the ranked value, its step, the extra
    measures, trials), then the budget table and the importances; configurations and figures are
    the parent's artifacts, named at the end."""
    if not rows:
        return f"# Study {study_name}\n\n(no finished evaluations yet)\n"
    extra_keys = list(dict.fromkeys(k for r in rows for k in r["extras"]))
    seeds = any("mean" in r for r in rows)
    head = (["#", "GAN", "best trial"] + (["mean ± std (seeds)"] if seeds else [])
            + [rows[0]["metric"], "step"] + [k.split("/")[-1] for k in extra_keys] + ["trials"])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        link = f"[{r.get('run_name') or r['gan']}](#/experiments/{experiment_id}/runs/{r['run_id']})"
        cells = ([str(r["rank"]), r["gan"], link] + ([spread(r)] if seeds else []) + [_fmt(r["value"]), str(r["step"])]
                 + [_fmt(r["extras"].get(k, "")) for k in extra_keys] + [str(r["trials"])])
        lines.append("| " + " | ".join(cells) + " |")
    budget = format_budget(rows, markdown=True).replace(f"![budget curves]({BUDGET_PLOT})\n\n", "")
    return (f"# Study {study_name}\n\n" + "\n".join(lines) + "\n" + budget + format_importance(rows)
            + f"\nArtifacts of this run: `leaderboard.md` (with each best trial's configuration), "
              f"`best_samples.png` (each GAN's best samples side by side), `curves.png` (every trial's "
              f"curve per GAN), `{BUDGET_PLOT}`, `study.yaml`.\n")


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

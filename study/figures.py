"""The study's comparison figures, logged to the parent run beside the leaderboard:

- ``best_samples.png``: each GAN's best trial's samples (its ``best_samples.png``, the ranked
  checkpoint) side by side, titled with the GAN, the ranked value and the step;
- ``curves.png``: per GAN, every trial's curve of the study metric overlaid (the best trial
  drawn thick), so a researcher sees at a glance which trials ASHA stopped and where.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

from study.tracking import BEST_SAMPLES, TAG_GAN, children, client_for
from trainables.metric_names import METRICS
from trainables.plots import new_figure, save_figure

SIDE_BY_SIDE = "best_samples.png"  # beside leaderboard.md and on the parent run
CURVES = "curves.png"


def _label(metric: str) -> str:
    return METRICS[metric].label if metric in METRICS else metric


LOG_SPAN = 20.0  # a positive metric whose largest value is >= 20x its smallest is drawn on a log axis


def y_scale(values, mode: str = "min") -> str:
    """``"log"`` for a distance (``mode`` min: FID, KID, KL) whose positive values span at least
    :data:`LOG_SPAN` (an FID falling from 1,800 at step 0 to 24 flattens everything after its
    first evaluations on a linear axis), else ``"linear"`` (scores to maximise such as the
    bounded ``eval/fit``, values <= 0)."""
    finite = [v for v in values if math.isfinite(v)]
    if mode != "min" or not finite or min(finite) <= 0:
        return "linear"
    return "log" if max(finite) / min(finite) >= LOG_SPAN else "linear"


def best_samples_figure(uri: str, rows: list[dict], path: Path) -> Path | None:
    """Tile the ``best_samples.png`` of each leaderboard row's run (best GAN first); None when
    no row's run has one."""
    import matplotlib.image as mpimg

    client = client_for(uri)
    panels = []
    with tempfile.TemporaryDirectory() as tmp:
        for row in rows:
            names = {a.path for a in client.list_artifacts(row["run_id"])}
            if BEST_SAMPLES not in names:
                continue
            local = client.download_artifacts(row["run_id"], BEST_SAMPLES, tmp + f"/{row['run_id']}")
            panels.append((row, mpimg.imread(local)))
    if not panels:
        return None
    cols = min(len(panels), 3)
    nrows = math.ceil(len(panels) / cols)
    fig, axes = new_figure(figsize=(4.2 * cols, 4.4 * nrows), ncols=cols, nrows=nrows, squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (row, image) in zip(axes.flat, panels):
        ax.imshow(image)
        ax.set_title(f"#{row['rank']} {row['gan']}: {_label(row['metric'])} {row['value']:.4g} "
                     f"(step {row['step']})", fontsize=9)
    return save_figure(fig, path)


def curves_figure(uri: str, experiment_id: str, parent_run_id: str, rows: list[dict],
                  path: Path) -> Path | None:
    """One panel per GAN (leaderboard order): the study metric of each of its trials against
    the step; the GAN's best trial thick and labelled. None without rows."""
    if not rows:
        return None
    client = client_for(uri)
    metric = rows[0]["metric"]
    runs = children(uri, experiment_id, parent_run_id)
    cols = min(len(rows), 3)
    nrows = math.ceil(len(rows) / cols)
    fig, axes = new_figure(figsize=(4.6 * cols, 3.3 * nrows), ncols=cols, nrows=nrows, squeeze=False,
                           sharey=True)
    for ax in axes.flat[len(rows):]:
        ax.axis("off")
    seen = []
    for ax, row in zip(axes.flat, rows):
        mine = [r for r in runs if r.data.tags.get(TAG_GAN) == row["gan"]]
        for run in mine:
            history = sorted((m.step, m.value) for m in client.get_metric_history(run.info.run_id, metric))
            if not history:
                continue
            steps, values = zip(*history)
            seen += values
            best = run.info.run_id == row["run_id"]
            ax.plot(steps, values, color="C3" if best else "0.55", linewidth=2.2 if best else 0.9,
                    alpha=1.0 if best else 0.7, zorder=3 if best else 2,
                    label=f"best: {run.info.run_name}" if best else None)
        ax.set_title(f"{row['gan']}: {len(mine)} trials", fontsize=10)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="best")
    scale = y_scale(seen, METRICS[metric].mode if metric in METRICS else "max")
    for ax in axes.flat[:len(rows)]:
        ax.set_yscale(scale)
    for ax in axes[:, 0]:
        ax.set_ylabel(_label(metric) + (" (log scale)" if scale == "log" else ""))
    return save_figure(fig, path)

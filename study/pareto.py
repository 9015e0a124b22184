"""Pareto fronts of a multi-objective study (``search.metrics``): per GAN, the trials no other
trial of that GAN beats on every metric, as a leaderboard section and ``pareto_front.png``.

Which value of a trial counts: its **last evaluation** (the run's latest value of each metric in
MLflow), because that is what Ray's ``OptunaSearch`` tells Optuna when a trial ends: a trial
stopped early by ASHA is reported as COMPLETE with the values of the rung where it stopped (not
pruned), so Optuna's own front (``study.best_trials``, the Optuna dashboard's Pareto plot) and
this one agree. Such a trial is shorter-trained; the table gives each front trial's steps. The
first metric still ranks the trials (ASHA, ``best.pt``, the leaderboard above); repeats
(``search.repeats``), diverged and orphaned runs are left out.
"""

from __future__ import annotations

from pathlib import Path

from study.report import titled_table
from study.tracking import TAG_DIVERGED_AT, TAG_GAN, TAG_REPEAT_OF, TAG_STOP_REASON, TAG_TRIAL_ID, children
from trainables.metric_names import METRICS, TRAINED_STEPS
from trainables.plots import new_figure, save_figure

PARETO_PLOT = "pareto_front.png"  # beside leaderboard.md and on the parent run


def dominates(a: list[float], b: list[float], modes: list[str]) -> bool:
    """Is ``a`` at least as good as ``b`` on every objective and better on one?"""
    sign = [1.0 if m == "max" else -1.0 for m in modes]
    at_least = all(s * x >= s * y for s, x, y in zip(sign, a, b))
    return at_least and any(s * x > s * y for s, x, y in zip(sign, a, b))


def front_indices(points: list[list[float]], modes: list[str]) -> list[int]:
    """Indices of the non-dominated ``points`` (equal points all stay), in input order."""
    return [i for i, p in enumerate(points) if not any(dominates(q, p, modes) for q in points)]


def pareto_trials(uri: str, experiment_id: str, parent_run_id: str,
                  objectives: list[tuple[str, str]]) -> dict[str, list[dict]]:
    """``{gan: [trial]}``, each trial ``{trial_id, run_id, run_name, values, steps, stop_reason,
    on_front}`` (``values`` in the order of ``objectives``), search trials with every metric
    logged, oldest first."""
    metrics, modes = [m for m, _ in objectives], [d for _, d in objectives]
    by_gan: dict[str, list[dict]] = {}
    for run in children(uri, experiment_id, parent_run_id):
        tags, latest = run.data.tags, run.data.metrics
        if (tags.get(TAG_STOP_REASON) == "orphaned" or tags.get(TAG_REPEAT_OF) or TAG_DIVERGED_AT in tags
                or not all(m in latest for m in metrics)):
            continue
        by_gan.setdefault(tags.get(TAG_GAN, "?"), []).append({
            "trial_id": tags.get(TAG_TRIAL_ID), "run_id": run.info.run_id, "run_name": run.info.run_name,
            "values": [latest[m] for m in metrics], "steps": int(latest.get(TRAINED_STEPS, 0)),
            "stop_reason": tags.get(TAG_STOP_REASON, "")})
    for trials in by_gan.values():
        front = set(front_indices([t["values"] for t in trials], modes))
        for i, t in enumerate(trials):
            t["on_front"] = i in front
    return by_gan


def format_pareto(by_gan: dict[str, list[dict]], objectives: list[tuple[str, str]], *,
                  markdown: bool = False) -> str:
    """Each GAN's front (best first by the first metric) as a Markdown section or plain text."""
    if not by_gan:
        return ""
    head = ["gan", "trial", *(f"{m} ({d})" for m, d in objectives), "steps", "stopped"]
    body = []
    for gan, trials in by_gan.items():
        front = [t for t in trials if t["on_front"]]
        front.sort(key=lambda t: t["values"][0], reverse=objectives[0][1] == "max")
        body += [[gan, t["run_name"] or t["trial_id"], *(f"{v:.4g}" for v in t["values"]), str(t["steps"]),
                  t["stop_reason"]] for t in front]
    title = (f"Pareto front of each GAN over {', '.join(m for m, _ in objectives)} "
             f"(last evaluation of each trial; {sum(len(t) for t in by_gan.values())} trials)")
    return titled_table(title, ("Pareto fronts", PARETO_PLOT), head, body, markdown=markdown)


def pareto_figure(by_gan: dict[str, list[dict]], objectives: list[tuple[str, str]], path: Path,
                  title: str = "") -> Path | None:
    """Every trial on the first two metrics, one colour per GAN: front trials filled and joined,
    dominated ones hollow (with more metrics the front is over all of them)."""
    if not by_gan:
        return None
    (mx, dx), (my, dy) = objectives[0], objectives[1]
    fig, ax = new_figure(figsize=(5.5, 4.2))
    for i, (gan, trials) in enumerate(by_gan.items()):
        colour = f"C{i % 10}"
        rest = [t["values"] for t in trials if not t["on_front"]]
        front = sorted((t["values"] for t in trials if t["on_front"]), key=lambda v: v[0])
        if rest:
            ax.scatter([v[0] for v in rest], [v[1] for v in rest], s=22, facecolors="none",
                       edgecolors=colour, alpha=0.7)
        ax.plot([v[0] for v in front], [v[1] for v in front], "o-", color=colour, ms=6,
                label=f"{gan} ({len(front)} on the front)")
    ax.set_xlabel(f"{METRICS[mx].label if mx in METRICS else mx} ({'higher' if dx == 'max' else 'lower'} is better)")
    ax.set_ylabel(f"{METRICS[my].label if my in METRICS else my} ({'higher' if dy == 'max' else 'lower'} is better)")
    ax.set_title(title or "Pareto front per GAN (hollow: dominated trials)", fontsize=9)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return save_figure(fig, path)

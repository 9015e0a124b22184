"""``study run --smoke-test``: the same study file at a tiny, CI-sized budget."""

from __future__ import annotations

from search_spaces import grids
from study.study_schema import legacy_layout
from trainables.config import DATA_FAMILIES, DataConfig, deep_merge


# -- smoke test --------------------------------------------------------------------------------
SMOKE = {"max_steps": 40, "eval_every": 10, "samples": 2, "grid_points": 2, "eval_samples": 500,
         "max_items": 512}  # the --smoke-test budget: a few steps and trials, CI-sized


def smoke_overrides(doc: dict) -> dict:
    """``doc`` with a tiny budget: 40 steps, evaluations every 10, 2 samples (or the first 2
    grid points), ASHA grace 10, 500 evaluation samples, at most 512 training images; the study
    name gets a ``-smoke`` suffix so it never collides with the real study."""
    doc = deep_merge({}, legacy_layout(doc)[0])
    doc["name"] = f"{doc.get('name', 'study')}-smoke"
    search = dict(doc.get("search") or {})
    grid = search.get("grid")
    if grid is None:
        search["samples_per_gan"] = SMOKE["samples"]
    elif isinstance(grid, dict):
        search["grid"] = {k: (v[:1] if i else v[:SMOKE["grid_points"]]) if isinstance(v, list) else v
                          for i, (k, v) in enumerate(grid.items())}
    else:
        search["grid"] = {"__named__": grid}  # cut below, once the named grid is known
    doc["search"] = search
    sched = dict(doc.get("scheduler") or {})
    sched.pop("max_t", None)
    sched["grace_period"] = SMOKE["eval_every"]
    doc["scheduler"] = sched
    run = dict(doc.get("run") or {})
    run["steps"] = SMOKE["max_steps"]
    ev = dict(run.get("eval") or {})
    ev["num_samples"] = min(int(ev.get("num_samples", SMOKE["eval_samples"])), SMOKE["eval_samples"])
    ev["every"] = SMOKE["eval_every"]
    run["eval"] = ev
    data = dict(run.get("data") or {})
    if DATA_FAMILIES.get(data.get("name", DataConfig.name)) != "toy":
        data["max_items"] = SMOKE["max_items"]
    run["data"] = data
    doc["run"] = run
    if isinstance(search.get("grid"), dict) and "__named__" in search["grid"]:
        search["grid"] = _cut_named_grid(search["grid"]["__named__"], doc)
    return doc


def _cut_named_grid(name, doc: dict):
    """The first :data:`SMOKE` ``grid_points`` points of a named grid, as explicit axes."""
    if not isinstance(name, str) or name not in grids.GRIDS:
        return name  # let validation report it
    gans = doc.get("gans") or []
    gan = gans[0] if isinstance(gans, list) and gans and isinstance(gans[0], str) else None
    try:
        points = grids.get_grid(name, gan) if gan else grids.GRIDS[name][1]()
    except ValueError:
        return name
    points = points[: SMOKE["grid_points"]]
    keys = list(points[0])
    axes = {k: sorted({p[k] for p in points}, key=repr) for k in keys}
    return axes

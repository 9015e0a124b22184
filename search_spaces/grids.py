"""Grid studies: full factorial sets of flat points (dotted config keys -> values).

A grid is an ``axes`` mapping ``{key: [values...]}``; :func:`expand_grid` turns it into the
list of points. The same ``axes`` mapping is what ``optuna.samplers.GridSampler`` expects, and
the points can be passed as ``points_to_evaluate`` or applied with
``search_spaces.apply_point``.
"""

from __future__ import annotations

import itertools

TTUR_LRS = (1e-4, 2e-4, 5e-4, 1e-3)  # repulsive-MMD paper's TTUR learning rates (lr_D, lr_G)
REPULSIVE_LAMBDAS = (-1.0, -0.5, 0.0, 0.5, 1.0, 2.0)  # repulsive-MMD paper's lambda sweep


def expand_grid(axes: dict) -> list[dict]:
    """Cartesian product of ``axes`` (``{key: [values...]}``) as a list of flat dicts.

    Order: ``itertools.product`` over the keys in insertion order (the last key varies
    fastest). Raises ValueError for an empty mapping, a non-string key, an axis that is not a
    non-empty list/tuple, or an axis with repeated values (the points must be distinct).
    """
    if not isinstance(axes, dict) or not axes:
        raise ValueError("axes: expected a non-empty mapping {key: [values...]}")
    for key, values in axes.items():
        if not isinstance(key, str):
            raise ValueError(f"axes key {key!r}: expected a dotted config key (str)")
        if not isinstance(values, (list, tuple)) or not values:
            raise ValueError(f"axes[{key!r}] = {values!r}: expected a non-empty list of values")
        if len(set(map(repr, values))) != len(values):
            raise ValueError(f"axes[{key!r}] = {values!r}: values must be distinct")
    keys = list(axes)
    return [dict(zip(keys, combo)) for combo in itertools.product(*(axes[k] for k in keys))]


def ttur_axes(lrs=TTUR_LRS) -> dict:
    """Axes of the TTUR grid: ``optim.lr_d`` x ``optim.lr_g`` over ``lrs`` (16 pairs by default)."""
    return {"optim.lr_d": list(lrs), "optim.lr_g": list(lrs)}


def ttur_grid(lrs=TTUR_LRS) -> list[dict]:
    """The 16 (lr_d, lr_g) pairs of the repulsive-MMD paper, for any GAN."""
    return expand_grid(ttur_axes(lrs))


def mmd_ttur_lambda_axes() -> dict:
    """Axes of the repulsive-MMD paper's Figure 3: TTUR pairs x ``hparams.lam``."""
    return {**ttur_axes(), "hparams.lam": list(REPULSIVE_LAMBDAS)}


def mmd_ttur_lambda_grid() -> list[dict]:
    """96 points: (lr_d, lr_g) in {1e-4, 2e-4, 5e-4, 1e-3}^2 x lam in {-1, -0.5, 0, 0.5, 1, 2}
    (for ``mmd_rep``; the kernel stays the GAN's default, bounded RBF-B)."""
    return expand_grid(mmd_ttur_lambda_axes())


# Named grids for the study CLI: name -> (GANs it applies to or None for any, points factory).
GRIDS = {
    "ttur": (None, ttur_grid),
    "mmd_ttur_lambda": (("mmd_rep",), mmd_ttur_lambda_grid),
}


def get_grid(name: str, gan: str) -> list[dict]:
    """The points of the named grid (:data:`GRIDS`) for ``gan``; ValueError for an unknown grid
    name or a GAN the grid does not apply to."""
    entry = GRIDS.get(name)
    if entry is None:
        raise ValueError(f"grid = {name!r}: accepted values are {', '.join(GRIDS)}")
    gans, factory = entry
    if gans is not None and gan not in gans:
        raise ValueError(f"gan = {gan!r}: grid {name!r} applies to {', '.join(gans)}")
    return factory()

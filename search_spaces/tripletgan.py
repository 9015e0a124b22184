"""TripletGAN search space (spec sections 1 and 7): margin c, distance, TTUR Adam."""

from __future__ import annotations

from search_spaces.common import suggest_optim

MARGIN_RANGE = (0.05, 3.0)  # uniform c in (0, pi); defaults 0.5 toy, 1.0 MNIST, 1.6 images
DISTANCES = ("arc", "l2")  # arc length (the paper's, max pi) or chordal L2 (max 2)


def space(trial, gan: str, family: str) -> dict:
    """Define-by-run space of TripletGAN on ``family``.

    ``hparams.margin`` ~ U[0.05, 3.0] (inside (0, pi), the arc distance's range; with ``l2``
    margins above 2 always bind, which the search may discover), ``hparams.distance`` in
    {arc, l2}, plus the shared TTUR axes. ``gan`` is unused (one GAN per module).
    """
    out = suggest_optim(trial, family)
    out["hparams.margin"] = trial.suggest_float("hparams.margin", *MARGIN_RANGE)
    out["hparams.distance"] = trial.suggest_categorical("hparams.distance", DISTANCES)
    return out

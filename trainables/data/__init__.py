"""Training data: 2D mixtures (``toy``), image datasets (``images``), seeded resumable streams
of real batches by dataset name (``streams``)."""

from trainables.data.toy import MIXTURES, ToyStream, get_mixture, mixture_of

__all__ = ["MIXTURES", "ToyStream", "get_mixture", "mixture_of"]

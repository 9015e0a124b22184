"""TripletGAN's class-balance measure of generated digits (its table 1)."""

import math

import torch


def class_balance(pred_labels_or_probs: torch.Tensor, num_classes: int = 10) -> dict[str, float]:
    """Entropy and L2 distance to uniform of the predicted-class histogram.

    ``pred_labels_or_probs``: integer labels (N,) in [0, num_classes), or class scores (N,
    num_classes) (probabilities or logits; each row counts for its argmax class). With ``h`` the
    normalised histogram, returns ``{"class_entropy": -sum_k h_k ln h_k`` (nats, 0 ln 0 = 0; ideal
    ln num_classes)``, "class_l2": ||h - 1/num_classes||_2}`` (ideal 0).
    """
    if num_classes < 2:
        raise ValueError(f"num_classes = {num_classes}: must be >= 2")
    preds = torch.as_tensor(pred_labels_or_probs)
    if preds.dim() == 2:
        if preds.shape[1] != num_classes:
            raise ValueError(f"pred_labels_or_probs shape = {tuple(preds.shape)}: expected (N, {num_classes})")
        preds = preds.argmax(dim=1)
    elif preds.dim() != 1 or preds.is_floating_point() or preds.is_complex():
        raise ValueError("pred_labels_or_probs: expected integer labels (N,) or class scores (N, num_classes)")
    if len(preds) == 0:
        raise ValueError("pred_labels_or_probs: empty")
    if preds.min() < 0 or preds.max() >= num_classes:
        raise ValueError(f"pred_labels_or_probs: labels must lie in [0, {num_classes})")
    hist = torch.bincount(preds.long().cpu(), minlength=num_classes).double() / len(preds)
    entropy = -torch.special.xlogy(hist, hist).sum()
    l2 = torch.linalg.vector_norm(hist - 1.0 / num_classes)
    return {"class_entropy": float(entropy), "class_l2": float(l2)}


IDEAL_CLASS_ENTROPY = math.log(10)  # ln 10 = 2.303 nats, the entropy of a perfectly balanced digit histogram

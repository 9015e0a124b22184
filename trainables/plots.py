"""Every PNG the platform draws: sample scatters, image grids, metric curves (matplotlib, Agg).

:func:`new_figure` / :func:`save_figure` are the one way a figure is made and written (the
benchmarks use them too), so backends, folders and closing are handled once.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch


def new_figure(figsize=(5, 3.2), dpi: int = 100, **subplots):
    """``(fig, ax)`` on the non-interactive Agg backend (works on headless workers)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=figsize, dpi=dpi, **subplots)


def save_figure(fig, path: Path) -> Path:
    """Tight layout, write ``path`` (folders created), close the figure; returns the path."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def scatter_plot(points: torch.Tensor, mixture, title: str, path: Path) -> Path:
    """PNG scatter of 2D ``points`` over the modes of ``mixture`` (a Mixture or a registered name)."""
    from matplotlib.patches import Circle

    from trainables.data.toy import get_mixture

    pts = points.numpy()
    mix = get_mixture(mixture) if isinstance(mixture, str) else mixture
    means = mix.means_tensor().numpy()
    fig, ax = new_figure(figsize=(4, 4))
    for x, y in means:  # the high-quality disc of each mode (3 std), drawn under the points
        ax.add_patch(Circle((x, y), 3 * mix.std, fill=False, color="red", lw=0.8, zorder=1))
    ax.scatter(pts[:, 0], pts[:, 1], s=2, alpha=0.5, label="generated", zorder=2)
    lim = float(abs(means).max()) * 1.5 + 0.5
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_title(title, fontsize=9)
    ax.set_aspect("equal")
    return save_figure(fig, path)


def image_grid(images: torch.Tensor, path: Path) -> Path:
    """PNG grid of images in [-1, 1], ``ceil(sqrt(n))`` per row."""
    from torchvision.utils import save_image

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_image(images, path, nrow=int(math.ceil(math.sqrt(len(images)))), normalize=True, value_range=(-1, 1))
    return path


def plot_curve(curves: dict[str, list[tuple[int, float]]], path: Path, title: str = "") -> Path:
    """Line plot of ``{metric: [(step, value), ...]}`` (one line each) saved as a PNG."""
    fig, ax = new_figure()
    for name, points in curves.items():
        steps, values = zip(*points) if points else ((), ())
        ax.plot(steps, values, marker="o", markersize=3, label=name)
    ax.set_xlabel("step")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return save_figure(fig, path)

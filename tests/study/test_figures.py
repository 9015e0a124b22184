"""The study's comparison figures (``study.figures``) from a real sqlite MLflow store: each GAN's
best samples side by side, every trial's curve per GAN."""

import numpy as np
import pytest
from PIL import Image

from study.figures import best_samples_figure, curves_figure, y_scale
from study.tracking import BEST_SAMPLES, TAG_GAN, TAG_PARENT, client_for, ensure_experiment


@pytest.fixture()
def store(tmp_path):
    """A parent and, per GAN, 3 children with an eval/fit curve; the first child of each GAN
    has a best_samples.png (a solid colour per GAN)."""
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    exp = ensure_experiment(uri, "figs", tmp_path / "mlruns")
    client = client_for(uri)
    parent = client.create_run(exp, run_name="figs").info.run_id
    rows = []
    for g, (gan, colour) in enumerate((("mmd_rep", (255, 0, 0)), ("tripletgan", (0, 0, 255)))):
        for k in range(3):
            run = client.create_run(exp, run_name=f"{gan} #{k + 1}", tags={TAG_PARENT: parent, TAG_GAN: gan})
            rid = run.info.run_id
            for step in (0, 100, 200):
                client.log_metric(rid, "eval/fit", 0.1 * k + step / 1000 + g, step=step)
            if k == 0:
                (tmp_path / gan).mkdir()
                path = tmp_path / gan / BEST_SAMPLES
                Image.fromarray(np.full((40, 40, 3), colour, np.uint8)).save(path)
                client.log_artifact(rid, str(path))
                rows.append({"rank": 2 - g, "gan": gan, "metric": "eval/fit", "value": 0.2 + g,
                             "step": 200, "run_id": rid})
    rows.sort(key=lambda r: r["rank"])
    return uri, exp, parent, rows


def test_best_samples_side_by_side_best_gan_first(store, tmp_path):
    uri, _, _, rows = store
    path = best_samples_figure(uri, rows, tmp_path / "out" / "best_samples.png")
    image = np.asarray(Image.open(path).convert("RGB")).astype(int)
    height, width, _ = image.shape
    assert width > 1.5 * height  # two panels in a row
    left, right = image[:, : width // 2], image[:, width // 2:]

    def share(part, colour):
        return np.mean(np.all(np.abs(part - colour) < 40, axis=-1))

    # rank 1 (tripletgan, blue) on the left, rank 2 (mmd_rep, red) on the right
    assert share(left, (0, 0, 255)) > 0.05 and share(left, (255, 0, 0)) < 0.001
    assert share(right, (255, 0, 0)) > 0.05 and share(right, (0, 0, 255)) < 0.001
    assert best_samples_figure(uri, [], tmp_path / "none.png") is None


def test_curves_one_panel_per_gan(store, tmp_path):
    uri, exp, parent, rows = store
    path = curves_figure(uri, exp, parent, rows, tmp_path / "curves.png")
    width, height = Image.open(path).size
    assert width > 1.5 * height
    assert curves_figure(uri, exp, parent, [], tmp_path / "empty.png") is None


def test_y_scale_is_log_only_for_positive_values_spanning_decades():
    assert y_scale([1800.5, 309.9, 70.1, 24.0]) == "log"  # an FID curve (mnist_sndcgan mmd_rep)
    assert y_scale([0.02, 0.31, 0.45, float("nan")]) == "log"  # 22x apart
    assert y_scale([0.01, 0.3, 0.5], mode="max") == "linear"  # eval/fit: a score, not a distance
    assert y_scale([1.0, 3.0, 5.0]) == "linear"
    assert y_scale([0.0, 0.5]) == "linear" and y_scale([-1.0, 50.0]) == "linear"
    assert y_scale([]) == "linear" and y_scale([float("inf")]) == "linear"

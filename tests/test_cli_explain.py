"""``brittle explain`` as a user runs it: a subprocess on a real checkpoint, files checked."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib.image as mpimg
import pytest

from audit_fixtures import digits_classifier
from brittle import data
from brittle.models import save_classifier
from test_cli import assert_one_line_error, brittle


def assert_png(path: Path) -> None:
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    image = mpimg.imread(path)
    assert image.ndim == 3 and image.shape[0] > 50 and image.shape[1] > 50
    assert image.std() > 0.01  # not blank


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The audit tests' LeNet-5, trained (seeded, seconds) on the digits training split."""
    path = tmp_path_factory.mktemp("digits-model") / "model.safetensors"
    save_classifier(digits_classifier(), path, dataset="digits")
    return path


def test_saliency_writes_map_overlay_and_parts(checkpoint: Path, tmp_path: Path) -> None:
    proc = brittle("explain", str(checkpoint), "--data", "digits", "--index", "17", "--method",
                   "saliency", "--target", "3", "--out", str(tmp_path), "--no-progress")
    assert proc.returncode == 0, proc.stderr
    for name in ("map.png", "overlay.png", "positive.png", "negative.png", "explanation.png"):
        assert_png(tmp_path / name)
    result = json.loads((tmp_path / "explain.json").read_text())
    assert result["index"] == 17 and result["method"] == "saliency" and result["target"] == 3
    m = result["map"]
    assert m["positive_sum"] >= 0 >= m["negative_sum"] and 0 <= m["border_share"] <= 1
    assert result["label"] == int(data.load("digits", "test")[17][1])
    assert sum(result["probabilities"].values()) == pytest.approx(1.0, abs=1e-4)


def test_attack_writes_the_clean_vs_adversarial_grid(checkpoint: Path, tmp_path: Path) -> None:
    proc = brittle("explain", str(checkpoint), "--data", "digits", "--index", "5", "--method",
                   "integrated_gradients", "--attack", "pgd", "--eps", "8/255", "--steps", "5",
                   "--out", str(tmp_path), "--no-progress")
    assert proc.returncode == 0, proc.stderr
    for name in ("map.png", "overlay.png", "compare.png"):
        assert_png(tmp_path / name)
    result = json.loads((tmp_path / "explain.json").read_text())
    attack = result["attack"]
    assert attack["settings"]["eps"] == pytest.approx(8 / 255)
    assert attack["linf"] <= 8 / 255 + 1e-6
    assert set(attack["similarity"]) == {"saliency", "gradcam", "integrated_gradients"}
    assert 0 <= result["map"]["completeness_gap"] < 0.2
    assert "compare.png" in result["files"]


@pytest.mark.parametrize(("extra", "fragment"), [
    (["--index", "100000"], "out of range"),
    (["--method", "lime"], "unknown explainer 'lime'"),
    (["--target", "eleven"], "unknown class 'eleven'"),
    (["--attack", "pgd"], "--attack needs --eps"),
    (["--attack", "pgd", "--eps", "8/0"], "--eps"),
    (["--eps", "0.1"], "need --attack"),
    (["--index", "-1"], "--index"),
])
def test_bad_input_is_one_line_exit_2(checkpoint: Path, tmp_path: Path, extra: list[str],
                                      fragment: str) -> None:
    proc = brittle("explain", str(checkpoint), "--data", "digits", "--out", str(tmp_path),
                   *extra)
    assert_one_line_error(proc, fragment)


def test_unwritable_out_is_one_line_exit_2(checkpoint: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    proc = brittle("explain", str(checkpoint), "--data", "digits", "--out", str(blocker / "x"))
    assert_one_line_error(proc, "output directory")

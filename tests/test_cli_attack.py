"""``brittle attack`` as a user runs it: real MNIST, a real checkpoint, files checked."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from test_cli import assert_one_line_error, brittle


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    out = tmp_path_factory.mktemp("mnist-model")
    proc = brittle("train", "--model", "lenet5", "--data", "mnist", "--n", "3000", "--epochs",
                   "2", "--data-dir", str(data_dir), "--out", str(out), "--no-progress")
    assert proc.returncode == 0, proc.stderr
    return out / "model.safetensors"


def test_attack_writes_results_adversarials_grid_and_curve(checkpoint: Path, data_dir: Path,
                                                           tmp_path: Path) -> None:
    proc = brittle("attack", str(checkpoint), "--data", "mnist", "--data-dir", str(data_dir),
                   "--attack", "pgd", "--eps", "0.3", "--steps", "20", "--target",
                   "least-likely", "--n", "64", "--curve", "--out", str(tmp_path),
                   "--no-progress")
    assert proc.returncode == 0, proc.stderr
    result = json.loads((tmp_path / "attack.json").read_text())
    assert result["n"] == 64 and result["attack"] == "pgd"
    assert {"k", "n", "low", "high"} <= set(result["success_rate"])
    assert len(result["per_class"]["classes"]) == 10
    assert result["per_class"]["targeted"] is True
    curve = result["curve"]
    assert len(curve["eps"]) == 8 and curve["eps"][-1] == pytest.approx(0.3)
    accuracies = [p["value"] for p in curve["robust_accuracy"]]
    assert accuracies == sorted(accuracies, reverse=True)
    with np.load(tmp_path / "adversarial.npz", allow_pickle=False) as arrays:
        x, x_adv = arrays["x"], arrays["x_adv"]
        assert x.shape == x_adv.shape == (64, 1, 28, 28) and x_adv.dtype == np.float32
        assert np.abs(x_adv - x).max() <= 0.3 + 1e-6
        assert x_adv.min() >= 0 and x_adv.max() <= 1
        assert (arrays["target"] != arrays["labels"]).all()
    for name in ("grid.png", "curve.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "eps,robust_accuracy,ci_low,ci_high,n" in (tmp_path / "curve.csv").read_text()


def test_autoattack_records_which_component_broke_each_sample(checkpoint: Path, data_dir: Path,
                                                             tmp_path: Path) -> None:
    proc = brittle("attack", str(checkpoint), "--data", "mnist", "--data-dir", str(data_dir),
                   "--attack", "autoattack", "--eps", "0.3", "--steps", "10", "--n", "32",
                   "--out", str(tmp_path), "--no-progress")
    assert proc.returncode == 0, proc.stderr
    result = json.loads((tmp_path / "attack.json").read_text())
    broken_by = result["info"]["broken_by"]
    counts = result["info"]["broken_by_counts"]
    assert len(broken_by) == 32
    assert list(counts) == ["apgd-ce", "apgd-t", "fab-t", "square"]
    success = result["success_rate"]["k"]
    assert sum(counts.values()) == success == sum(code >= 0 for code in broken_by)
    with np.load(tmp_path / "adversarial.npz", allow_pickle=False) as arrays:
        assert arrays["info_broken_by"].tolist() == broken_by


@pytest.mark.parametrize(("extra", "fragment"), [
    (["--eps", "-0.1"], "--eps"),
    (["--eps", "2"], "exceeds the input range"),
    (["--eps", "0.3", "--target", "12"], "target classes must lie in"),
    (["--eps", "0.3", "--target", "sideways"], "unknown target"),
    (["--eps", "0.3", "--attack", "nosuch"], "unknown attack 'nosuch'"),
    (["--eps", "0.3", "--attack", "fgsm", "--steps", "5"], "has no setting 'steps'"),
    (["--eps", "0.3", "--norm", "l3"], "--norm"),
])
def test_bad_attack_input_is_one_line_exit_2(checkpoint: Path, data_dir: Path, tmp_path: Path,
                                             extra: list[str], fragment: str) -> None:
    proc = brittle("attack", str(checkpoint), "--data", "mnist", "--data-dir", str(data_dir),
                   "--n", "8", "--out", str(tmp_path / "out"), *extra)
    assert_one_line_error(proc, fragment)
    assert not (tmp_path / "out" / "attack.json").exists()

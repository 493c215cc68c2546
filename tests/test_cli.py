"""The command line as a user runs it: a subprocess, real data, one-line errors with exit 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from brittle import data, evaluate, models


def brittle(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "brittle", *args], capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, timeout=600)


def assert_one_line_error(proc: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    for fragment in fragments:
        assert fragment in lines[0]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("train")
    proc = brittle("train", "--model", "lenet5", "--data", "digits", "--epochs", "2",
                   "--out", str(out), "--no-progress")
    assert proc.returncode == 0, proc.stderr
    assert "test accuracy" in proc.stdout
    return out


def test_version_and_listings() -> None:
    assert brittle("--version").stdout.startswith("brittle ")
    listing = brittle("data", "list").stdout
    for name in ("digits", "mnist", "fashion-mnist", "kmnist", "cifar10", "folder:PATH"):
        assert name in listing
    zoo = brittle("models", "list").stdout
    assert "resnet20" in zoo and "0.270M" in zoo and "lenet5-large" in zoo


def test_train_writes_checkpoint_and_history(trained: Path) -> None:
    assert (trained / "model.safetensors").is_file()
    history = json.loads((trained / "train.json").read_text())
    assert len(history["history"]["epochs"]) == 2
    card = models.read_card(trained / "model.safetensors")
    assert card.arch == "lenet5" and card.dataset == "digits" and card.recipe == "standard"
    assert card.clean_accuracy == pytest.approx(history["evaluation"]["accuracy"]["value"])
    assert not [p for p in trained.iterdir() if p.name.endswith(".part")]


def test_eval_matches_python_api(trained: Path, tmp_path: Path) -> None:
    proc = brittle("eval", str(trained / "model.safetensors"), "--data", "digits",
                   "--out", str(tmp_path), "--no-progress")
    assert proc.returncode == 0, proc.stderr
    assert "miss rate" in proc.stdout and "true\\pred" in proc.stdout
    result = json.loads((tmp_path / "eval.json").read_text())
    expected = evaluate(models.load_classifier(trained / "model.safetensors"),
                        data.load("digits", "test"))
    assert result["accuracy"]["value"] == pytest.approx(expected.accuracy.value)
    assert result["confusion"] == expected.confusion
    assert {"low", "high", "n"} <= set(result["per_class"][0]["miss_rate"])


def test_same_seed_same_numbers(tmp_path: Path) -> None:
    accuracies = []
    for run in ("a", "b"):
        out = tmp_path / run
        proc = brittle("train", "--model", "mlp", "--data", "digits", "--epochs", "1",
                       "--seed", "5", "--out", str(out), "--no-progress")
        assert proc.returncode == 0, proc.stderr
        accuracies.append(json.loads((out / "train.json").read_text())["evaluation"])
    assert accuracies[0]["confusion"] == accuracies[1]["confusion"]


@pytest.mark.parametrize(("argv", "expected"), [
    (["--recipe", "fast-at", "--epochs", "2", "--eps", "0.2", "--eps-warmup", "1"],
     {"eps": 0.2, "eps_warmup": 1, "step_size": 0.25}),  # fast-at's step: 1.25 eps
    (["--recipe", "pgd-at", "--epochs", "1", "--steps", "3", "--step-size", "0.1",
      "--start", "prior"],
     {"eps": 0.3, "steps": 3, "step_size": 0.1, "start": "prior"}),
])
def test_adversarial_training_settings_reach_the_recipe(argv: list[str], expected: dict[str, float],
                                                        tmp_path: Path) -> None:
    proc = brittle("train", "--model", "lenet5", "--data", "digits", *argv, "--n", "128",
                   "--out", str(tmp_path), "--no-progress")
    assert proc.returncode == 0, proc.stderr
    settings = json.loads((tmp_path / "train.json").read_text())["history"]["settings"]
    assert {k: settings[k] for k in expected} == pytest.approx(expected)


@pytest.mark.parametrize(("argv", "fragment"), [
    (["train", "--model", "lenet5", "--data", "imagenet"], "unknown dataset 'imagenet'"),
    (["train", "--model", "vgg99", "--data", "digits"], "unknown model 'vgg99'"),
    (["train", "--model", "lenet5", "--data", "digits", "--epochs", "-1"], "--epochs"),
    (["train", "--model", "lenet5", "--data", "digits", "--lr", "nan"], "--lr"),
    (["train", "--model", "lenet5", "--data", "digits", "--lr", "1e9"], "lr must be"),
    (["train", "--model", "lenet5", "--data", "digits", "--n", "99999"], "asked for 99999"),
    (["train", "--model", "lenet5", "--data", "digits", "--device", "tpu"], "unknown device"),
    (["train", "--model", "lenet5", "--data", "digits", "--recipe", "fast-at", "--epochs", "2",
      "--eps-warmup", "2"], "eps_warmup must be in [0, epochs)"),
    (["train", "--model", "lenet5", "--data", "digits", "--eps-warmup", "1"],
     "recipe 'standard' has no setting(s) eps_warmup"),
    (["train", "--model", "lenet5", "--data", "digits", "--steps", "0"], "--steps"),
    (["train", "--model", "lenet5", "--data", "digits", "--steps", "5"],
     "recipe 'standard' has no setting(s) steps"),
    (["eval", "missing.safetensors", "--data", "digits"], "missing.safetensors"),
    (["frobnicate"], "invalid choice"),
])
def test_bad_input_is_one_line_exit_2(argv: list[str], fragment: str, tmp_path: Path) -> None:
    assert_one_line_error(brittle(*argv, "--out", str(tmp_path / "out")) if argv[0] != "frobnicate"
                          else brittle(*argv), fragment)
    assert not (tmp_path / "out" / "model.safetensors").exists()


def test_corrupt_checkpoint_and_wrong_data_are_refused(trained: Path, tmp_path: Path,
                                                       data_dir: Path) -> None:
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\x00\x01not a checkpoint" * 10)
    assert_one_line_error(brittle("eval", str(garbage), "--data", "digits"))
    wrong = brittle("eval", str(trained / "model.safetensors"), "--data", "cifar10",
                    "--data-dir", str(data_dir))
    assert_one_line_error(wrong, "expects images of shape")


def test_unwritable_output_dir_is_refused(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    proc = brittle("train", "--model", "lenet5", "--data", "digits", "--epochs", "1",
                   "--out", str(blocker / "run"))
    assert_one_line_error(proc, "output directory")


def test_demo_is_the_main_job(tmp_path: Path) -> None:
    proc = brittle("demo", "--out", str(tmp_path / "demo"), "--no-progress")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "demo" / "model.safetensors").is_file()
    accuracy = json.loads((tmp_path / "demo" / "train.json").read_text())["evaluation"]["accuracy"]
    assert accuracy["value"] > 0.95
    report = tmp_path / "demo" / "audit" / "report.html"
    assert proc.stdout.strip().splitlines()[-1] == f"report: {report}"
    results = json.loads((tmp_path / "demo" / "audit" / "results.json").read_text())
    assert set(results["sections"]) == {"accuracy", "adversarial", "corruptions", "ood",
                                        "calibration", "explain", "diagnose"}
    assert "findings:" in proc.stdout and report.stat().st_size > 10_000

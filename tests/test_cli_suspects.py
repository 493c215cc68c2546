"""``brittle suspects`` as a user runs it: a subprocess on ``digits``, files checked, one-line
errors with exit status 2."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from brittle import data
from brittle.cli.suspects_cmd import load_probabilities
from brittle.errors import BrittleError
from test_cli import assert_one_line_error, brittle

PLANTED = (3, 50, 400)  # rows of the digits test split whose probabilities contradict the label


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Probabilities for the digits test split that agree with every label except three rows,
    which put 0.9 on the next class."""
    labels = data.load("digits", "test").labels.numpy()
    probs = np.full((len(labels), 10), 0.1 / 9)
    probs[np.arange(len(labels)), labels] = 0.9
    for row in PLANTED:
        probs[row] = 0.1 / 9
        probs[row, (labels[row] + 1) % 10] = 0.9
    path = tmp_path_factory.mktemp("probs") / "probs.npy"
    np.save(path, probs)
    return path


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def test_cross_training_writes_list_json_gallery_and_probabilities(tmp_path: Path) -> None:
    proc = brittle("suspects", "--data", "digits", "--folds", "2", "--epochs", "1", "--out",
                   str(tmp_path), "--no-progress")
    assert proc.returncode == 0, proc.stderr
    assert "label suspects" in proc.stdout and "error" not in proc.stdout.lower()
    result = json.loads((tmp_path / "suspects.json").read_text())
    assert result["schema"] == "brittle.suspects" and result["n"] == 1347
    assert result["probabilities"] == {"kind": "cross-validation", "folds": 2, "arch": "lenet5",
                                       "recipe": "standard", "epochs": 1}
    assert result["method"] == "prune_by_noise_rate" and result["num_classes"] == 10
    assert len(result["noise_rates"]) == 10 and {"k", "n", "low", "high"} <= set(
        result["noise_rates"][0])
    rows = read_csv(tmp_path / "suspects.csv")
    assert len(rows) == result["num_suspects"] == len(result["suspects"])
    assert list(rows[0]) == ["rank", "index", "given", "given_name", "predicted",
                             "predicted_name", "score", "p_given", "p_predicted"]
    probs = np.load(tmp_path / "probabilities.npy", allow_pickle=False)
    assert probs.shape == (1347, 10) and np.allclose(probs.sum(1), 1, atol=1e-5)
    assert (tmp_path / "gallery.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".part")]


def test_given_probabilities_find_exactly_the_planted_suspects(planted: Path,
                                                               tmp_path: Path) -> None:
    proc = brittle("suspects", "--data", "digits", "--split", "test", "--probabilities",
                   str(planted), "--rank-by", "normalized_margin", "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    rows = read_csv(tmp_path / "suspects.csv")
    assert sorted(int(r["index"]) for r in rows) == list(PLANTED)
    labels = data.load("digits", "test").labels
    for r in rows:
        assert int(r["given"]) == int(labels[int(r["index"])])
        assert int(r["predicted"]) == (int(r["given"]) + 1) % 10
        assert float(r["p_predicted"]) == pytest.approx(0.9)
    result = json.loads((tmp_path / "suspects.json").read_text())
    assert result["rank_by"] == "normalized_margin"
    assert result["probabilities"]["kind"] == "file"
    assert not (tmp_path / "probabilities.npy").exists()
    # the same matrix from an .npz archive, with --top limiting the list
    archive = tmp_path / "probs.npz"
    np.savez(archive, probabilities=np.load(planted))
    proc = brittle("suspects", "--data", "digits", "--split", "test", "--probabilities",
                   str(archive), "--top", "2", "--out", str(tmp_path / "npz"))
    assert proc.returncode == 0, proc.stderr
    assert len(read_csv(tmp_path / "npz" / "suspects.csv")) == 2
    assert json.loads((tmp_path / "npz" / "suspects.json").read_text())["num_suspects"] == 3


def test_checkpoint_scores_the_test_split(tmp_path: Path) -> None:
    model = tmp_path / "model"
    proc = brittle("train", "--model", "lenet5", "--data", "digits", "--epochs", "2", "--out",
                   str(model), "--no-progress")
    assert proc.returncode == 0, proc.stderr
    proc = brittle("suspects", "--data", "digits", "--split", "test", "--checkpoint",
                   str(model / "model.safetensors"), "--n", "200", "--out",
                   str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr
    result = json.loads((tmp_path / "out" / "suspects.json").read_text())
    assert result["n"] == 200 and result["probabilities"]["kind"] == "checkpoint"
    assert np.load(tmp_path / "out" / "probabilities.npy").shape == (200, 10)


def test_bad_probabilities_exit_2_with_one_line(planted: Path, tmp_path: Path) -> None:
    logits = tmp_path / "logits.npy"
    np.save(logits, np.random.default_rng(0).normal(size=(450, 10)))
    assert_one_line_error(brittle("suspects", "--data", "digits", "--split", "test",
                                  "--probabilities", str(logits), "--out", str(tmp_path / "a")),
                          "softmax")
    assert_one_line_error(brittle("suspects", "--data", "digits", "--split", "train",
                                  "--probabilities", str(planted), "--out", str(tmp_path / "a")),
                          "450 rows", "1347")
    pickled = tmp_path / "objects.npy"
    np.save(pickled, np.array([{"p": 1}], dtype=object), allow_pickle=True)
    assert_one_line_error(brittle("suspects", "--data", "digits", "--split", "test",
                                  "--probabilities", str(pickled), "--out", str(tmp_path / "a")),
                          "cannot read probabilities")


def test_bad_arguments_exit_2_with_one_line(planted: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert_one_line_error(brittle("suspects", "--data", "digits", "--split", "test",
                                  "--probabilities", str(planted), "--out", str(blocker)),
                          "output directory")
    assert_one_line_error(brittle("suspects", "--data", "digits", "--n", "100000", "--out",
                                  str(tmp_path / "a")), "100000")
    assert_one_line_error(brittle("suspects", "--data", "digits", "--probabilities",
                                  str(planted), "--checkpoint", "x.safetensors"),
                          "not allowed with")


def test_probability_files_are_read_without_unpickling(planted: Path, tmp_path: Path) -> None:
    assert load_probabilities(planted).shape == (450, 10)
    single = tmp_path / "single.npz"
    np.savez(single, whatever=np.load(planted))
    assert load_probabilities(single).dtype == torch.float64
    several = tmp_path / "several.npz"
    np.savez(several, a=np.zeros((2, 2)), b=np.zeros((2, 2)))
    with pytest.raises(BrittleError, match="name the probabilities"):
        load_probabilities(several)
    with pytest.raises(BrittleError, match="not found"):
        load_probabilities(tmp_path / "missing.npy")
    text = tmp_path / "text.npy"
    text.write_text("not an array")
    with pytest.raises(BrittleError, match="cannot read"):
        load_probabilities(text)
    strings = tmp_path / "strings.npy"
    np.save(strings, np.array(["a", "b"]))
    with pytest.raises(BrittleError, match="expected probabilities"):
        load_probabilities(strings)

"""The audit's ``explain`` and ``diagnose`` sections on real digits, and their report pages."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from audit_fixtures import TINY, digits_classifier
from brittle import data, explain, models
from brittle.audit import AuditResult, audit
from brittle.audit.sections import diagnose as diagnose_section
from brittle.audit.sections.explain import overlay_png, signed_png
from brittle.explain import confused_pairs
from brittle.report import render_html
from report_fixtures import example_result

SECTIONS = ["explain", "diagnose"]
ANCHORS = ["explain-examples", "explain-sanity", "explain-adversarial", "diagnose-pairs",
           "diagnose-suspects"]
N = 450  # the whole digits test split: enough mistakes for the root-cause pairs


@pytest.fixture(scope="module")
def audited(tmp_path_factory: pytest.TempPathFactory) -> tuple[AuditResult, Path]:
    out = tmp_path_factory.mktemp("audit-explain")
    result = audit(digits_classifier(), "digits", budget=TINY, n=N, seed=0, out=out,
                   sections=SECTIONS, show_progress=False)
    return result, out


@pytest.fixture(scope="module")
def audited_set() -> tuple[torch.Tensor, torch.Tensor]:
    """The audited labels and the model's predictions."""
    x, y = data.load("digits", "test").tensors()
    assert len(y) == N
    return y, digits_classifier().predict_logits(x).argmax(1)


def decode(b64: str) -> Image.Image:
    image = Image.open(io.BytesIO(base64.b64decode(b64, validate=True)))
    image.load()
    return image


def pngs(node: Any) -> list[str]:
    """Every embedded PNG: values of keys ending in ``_png`` and of the examples' ``maps``."""
    if isinstance(node, dict):
        found = [v for k, v in node.items() if k.endswith("_png") and isinstance(v, str)]
        found += list(node["maps"].values()) if isinstance(node.get("maps"), dict) else []
        return found + [p for v in node.values() for p in pngs(v)]
    return [p for v in node for p in pngs(v)] if isinstance(node, list) else []


def test_explain_schema_and_sanity_verdicts(audited: tuple, audited_set: tuple) -> None:
    result, _ = audited
    y, pred = audited_set
    section = result.sections["explain"]
    assert list(result.sections) == SECTIONS
    assert set(result.run["seconds"]) == {"forward", *SECTIONS}
    assert section["methods"] == explain.names()  # LeNet has convolutions: every explainer
    assert section["display"]["saliency"] == "signed"
    assert section["display"]["gradcam"] == "overlay"
    examples = section["examples"]
    assert len(examples) == 8 and len({e["index"] for e in examples}) == 8
    for ex in examples:
        assert ex["label"] == int(y[ex["index"]]) and ex["pred"] == int(pred[ex["index"]])
        assert 0 < ex["confidence"] <= 1
        assert set(ex["maps"]) == set(section["methods"])
    sanity = section["sanity"]
    assert {"saliency", "gradcam"} <= set(sanity["passed"])
    assert all(isinstance(v, bool) for v in sanity["passed"].values())
    saliency = sanity["methods"]["saliency"]
    assert saliency["layers"][0] == "fc3" and len(saliency["spearman_abs"]) == 5
    assert saliency["passed"] == (saliency["final_spearman_abs"] < sanity["threshold"])
    # a trained LeNet's gradients depend on its weights (Adebayo et al.'s passing case)
    assert sanity["passed"]["saliency"]
    gap = section["completeness"]
    assert gap["n"] >= 1 and 0 <= gap["mean_gap"] <= gap["max_gap"] < 0.05
    cva = section["clean_vs_adversarial"]
    assert cva["attack"]["name"] == "pgd" and cva["attack"]["eps"] == result.budget["eps"]
    assert 0 < len(cva["examples"]) <= 4 and cva["attack"]["broken"] >= len(cva["examples"])
    for ex in cva["examples"]:
        assert ex["label"] == int(y[ex["index"]]) == int(pred[ex["index"]])  # clean-correct
        assert ex["adv_pred"] != ex["label"]
        assert {"clean_saliency_png", "adversarial_saliency_png", "clean_gradcam_png",
                "adversarial_gradcam_png"} <= set(ex)
        assert set(ex["similarity"]) == {"saliency", "gradcam"}


def test_diagnose_pairs_are_the_top_confusions(audited: tuple, audited_set: tuple) -> None:
    result, _ = audited
    y, pred = audited_set
    pairs = result.sections["diagnose"]["pairs"]
    expected = confused_pairs(y, pred, top=3, min_count=diagnose_section.MIN_ERRORS)
    assert expected, "the digits model should make a few repeated mistakes"
    assert [(p["true_class"], p["predicted_class"], p["n_errors"]) for p in pairs] == expected
    for pair in pairs:
        assert pair["n_errors"] >= diagnose_section.MIN_ERRORS
        assert pair["n_correct"] == int(((y == pair["true_class"]) & (pred == y)).sum())
        assert set(pair["border_share"]) == {"saliency", "gradcam"}
        for stats in pair["border_share"].values():
            assert 0 <= stats["errors"]["mean"] <= 1 and stats["test"] is not None
            assert 0 <= stats["test"]["p_value"] <= 1
        assert set(pair["background"]) == {"intensity"}
        assert set(pair["mean_maps"]) == {"saliency", "gradcam"}


def test_suspects_are_valid_rows_of_the_audited_set(audited: tuple, audited_set: tuple) -> None:
    result, _ = audited
    y, pred = audited_set
    suspects = result.sections["diagnose"]["suspects"]
    assert suspects["n"] == N and suspects["method"] == "prune_by_noise_rate"
    top = suspects["top"]
    assert 0 < len(top) <= 12 and suspects["count"] >= len(top)
    indices = [row["index"] for row in top]
    assert len(set(indices)) == len(indices) and all(0 <= i < N for i in indices)
    for row in top:
        assert row["given"] == int(y[row["index"]])
        assert row["predicted"] == int(pred[row["index"]]) != row["given"]
        assert row["given_name"] == str(row["given"])
        assert decode(row["image_png"]).size == (28, 28)
    assert [r["score"] for r in top] == sorted(r["score"] for r in top)  # most suspicious first
    rate = suspects["estimated_noise_rate"]
    assert rate["n"] == N and rate["low"] <= rate["value"] <= rate["high"]
    ambiguous = suspects["ambiguous"]
    assert not {r["index"] for r in ambiguous["top"]} & set(indices)
    assert all(r["margin"] <= ambiguous["threshold"] for r in ambiguous["top"])


def test_every_png_decodes(audited: tuple) -> None:
    result, _ = audited
    found = pngs(result.sections)
    # 8 images + 5 maps each, 4 x 6 clean/adversarial, 2 + 4 per pair, suspects, ambiguous
    assert len(found) >= 8 * 6 + 6
    for b64 in found:
        image = decode(b64)
        assert image.format == "PNG" and image.size == (28, 28)
        assert image.mode in {"L", "RGB"}


def test_report_shows_both_sections(audited: tuple) -> None:
    result, out = audited
    html = (out / "report.html").read_text(encoding="utf-8")
    for anchor in ["explain", "diagnose", *ANCHORS]:
        assert html.count(f'id="{anchor}"') == 1, anchor
    for b64 in pngs(result.sections):
        assert f"base64,{b64}" in html
    assert html.count('<span class="badge ok">pass</span>') == sum(
        result.sections["explain"]["sanity"]["passed"].values())
    first = result.sections["diagnose"]["suspects"]["top"][0]
    assert f"given {first['given_name']} → {first['predicted_name']}" in html
    assert "Likely cause:" in html and "errors put" in html


def test_json_round_trip(audited: tuple) -> None:
    result, out = audited
    loaded = AuditResult.load(out / "results.json")
    assert loaded.to_dict() == json.loads(json.dumps(result.to_dict()))
    assert render_html(loaded.to_dict()) == (out / "report.html").read_text(encoding="utf-8")


def test_same_seed_same_sections_other_seed_other_images() -> None:
    def sections(seed: int) -> dict[str, Any]:
        result = audit(digits_classifier(), "digits", budget=TINY, seed=seed,
                       sections=SECTIONS, show_progress=False)
        return result.to_dict()["sections"]

    first = sections(1)
    assert first == sections(1)
    assert [e["index"] for e in first["explain"]["examples"]] != [
        e["index"] for e in sections(2)["explain"]["examples"]]


def test_model_without_convolutions_skips_activation_maps() -> None:
    clf = models.build_classifier("mlp", input_shape=(1, 28, 28), num_classes=10)
    result = audit(clf, "digits", budget=TINY, n=60, sections=SECTIONS, show_progress=False)
    section = result.sections["explain"]
    assert section["methods"] == ["integrated_gradients", "saliency", "smoothgrad"]
    assert set(section["sanity"]["passed"]) == {"saliency"}
    for ex in section["clean_vs_adversarial"]["examples"]:
        assert "clean_gradcam_png" not in ex and "clean_saliency_png" in ex
    for pair in result.sections["diagnose"]["pairs"]:
        assert set(pair["border_share"]) == {"saliency"}
    html = render_html(result.to_dict())
    assert 'id="explain-examples"' in html and "Grad-CAM" not in html


def test_display_colours_follow_the_sign() -> None:
    attribution = torch.zeros(1, 4, 4)
    attribution[0, 0, 0], attribution[0, 0, 1] = 1.0, -1.0
    pixels = np.asarray(decode(signed_png(attribution)).convert("RGB")).astype(int)
    assert pixels[0, 0, 0] > 200 > pixels[0, 0, 2]  # raises the score: red
    assert pixels[0, 1, 2] > 200 > pixels[0, 1, 0]  # lowers it: blue
    assert (pixels[2, 2] > 240).all()  # no effect: white
    image = torch.full((1, 4, 4), 0.5)
    plain = np.asarray(decode(overlay_png(image, torch.zeros(1, 4, 4))).convert("RGB"))
    assert (plain == 128).all()  # no attribution: the grey image shows through unchanged
    hot = attribution.abs()
    tinted = np.asarray(decode(overlay_png(image, hot)).convert("RGB")).astype(int)
    red, green, blue = tinted[0, 0]
    assert red > green + 60 and red > blue + 60  # the strongest pixel turns red
    assert (tinted[3, 3] == 128).all()


def test_renderer_says_when_a_method_fails_and_escapes_names() -> None:
    result = example_result()
    result["findings"] = []
    result["sections"] = {k: result["sections"][k] for k in SECTIONS}
    sanity = result["sections"]["explain"]["sanity"]
    sanity["methods"]["saliency"].update(passed=False, final_spearman_abs=0.93)
    sanity["passed"]["saliency"] = False
    evil = "<b>x</b>"
    result["model"]["class_names"] = [evil, *result["model"]["class_names"][1:]]
    result["sections"]["diagnose"]["pairs"][0]["true_name"] = evil
    result["sections"]["diagnose"]["suspects"]["top"][0]["given_name"] = evil
    html = render_html(result)
    assert '<span class="badge fail">fail</span>' in html
    assert "Gradient saliency failed" in html
    assert "<b>x</b>" not in html and "&lt;b&gt;x&lt;/b&gt;" in html
    assert render_html(result) == html  # deterministic
    for anchor in ANCHORS:
        assert f'id="{anchor}"' in html
    for ex in result["sections"]["explain"]["examples"]:
        for b64 in ex["maps"].values():
            assert f"base64,{b64}" in html


def test_empty_sections_render_notes() -> None:
    result = example_result()
    result["findings"] = []
    result["sections"] = {
        "explain": {"methods": ["saliency"], "examples": [], "sanity": {},
                    "completeness": None, "clean_vs_adversarial": {
                        "attack": {"name": "pgd", "eps": 0.3, "steps": 5, "tried": 3,
                                   "broken": 0}, "examples": []}},
        "diagnose": {"pairs": [], "min_errors": 2,
                     "suspects": {"n": 10, "count": 0, "top": [], "ambiguous": {}}}}
    html = render_html(result)
    assert "No example maps were recorded." in html
    assert "No image was broken" in html
    assert "No class pair had enough mistakes to compare (at least 2 are needed)" in html
    assert "No test image is a suspect." in html
    pair = example_result()["sections"]["diagnose"]["pairs"][0]
    pair["n_correct"] = 0  # a class the model never gets right: nothing to compare with
    result["sections"]["diagnose"]["pairs"] = [pair]
    assert "the model reads no image of 9 correctly" in render_html(result)

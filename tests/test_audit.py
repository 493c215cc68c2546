"""``brittle.audit`` end to end on real data: schema, round trip, determinism, bad input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from audit_fixtures import TINY, digits_classifier
from brittle import data
from brittle.audit import SECTIONS, AuditResult, audit
from brittle.audit import run as audit_run
from brittle.errors import BrittleError

ANCHORS = ("accuracy-classes", "accuracy-pairs", "adversarial-curves", "adversarial-classes",
           "adversarial-masking", "corruptions-table", "ood-table", "calibration-reliability",
           "calibration-shift", "explain-examples", "explain-sanity", "explain-adversarial",
           "diagnose-pairs", "diagnose-suspects")


@pytest.fixture(scope="module")
def full(tmp_path_factory: pytest.TempPathFactory) -> tuple[AuditResult, Path]:
    out = tmp_path_factory.mktemp("audit")
    return audit(digits_classifier(), "digits", budget=TINY, seed=0, out=out,
                 show_progress=False), out


def _rates(node: Any) -> list[dict[str, Any]]:
    if isinstance(node, dict):
        found = [node] if {"k", "n", "value"} <= set(node) else []
        return found + [r for v in node.values() for r in _rates(v)]
    if isinstance(node, list):
        return [r for v in node for r in _rates(v)]
    return []


def test_every_section_is_filled_and_every_rate_has_n_and_interval(full: tuple) -> None:
    result, _ = full
    assert list(result.sections) == list(SECTIONS)
    acc = result.sections["accuracy"]
    assert acc["accuracy"]["n"] == 120 and sum(map(sum, acc["confusion"])) == 120
    adv = result.sections["adversarial"]
    assert [c["attack"] for c in adv["curves"]] == ["fgsm", "pgd", "autoattack"]
    assert len(adv["curves"][1]["eps"]) == TINY.curve_budgets + 1
    assert {"untargeted", "least-likely"} == set(adv["per_class"])
    assert {m["check"] for m in adv["masking"]} >= {"gradients", "unbounded_attack"}
    cor = result.sections["corruptions"]
    assert cor["suite"] == "mnist-c" and len(cor["results"]) == 15 * 3
    ood = result.sections["ood"]
    assert ood["convention"]["positive"] == "ood"
    assert {r["dataset"] for r in ood["results"]} == {"uniform", "gaussian", "constant"}
    assert len(ood["results"]) == 3 * len(ood["detectors"])
    cal = result.sections["calibration"]
    assert cal["temperature"] > 0 and len(cal["under_shift"]) == 15 * 3
    rates = _rates(result.to_dict())
    assert len(rates) > 100
    assert all(r["low"] <= r["value"] <= r["high"] and r["n"] > 0 for r in rates)
    assert set(result.run["seconds"]) == {"forward", *SECTIONS}


def test_findings_come_first_and_link_to_evidence_in_the_report(full: tuple) -> None:
    result, out = full
    assert 3 <= len(result.findings) <= 5
    html = (out / "report.html").read_text()
    for anchor in ANCHORS:
        assert f'id="{anchor}"' in html
    for finding in result.findings:
        assert finding["anchor"] in ANCHORS and f'href="#{finding["anchor"]}"' in html
    assert html.index(result.findings[0]["title"].split()[0]) < html.index('id="accuracy"')


def test_results_json_round_trips_losslessly_and_re_renders(full: tuple, tmp_path: Path) -> None:
    from brittle.report import render_html

    result, out = full
    loaded = AuditResult.load(out / "results.json")
    assert loaded.to_dict() == json.loads(json.dumps(result.to_dict()))
    assert render_html(loaded.to_dict()) == (out / "report.html").read_text()


def test_same_seed_gives_the_same_numbers() -> None:
    def numbers(seed: int) -> dict[str, Any]:
        r = audit(digits_classifier(), "digits", budget=TINY, seed=seed, show_progress=False,
                  sections=["accuracy", "adversarial", "corruptions", "calibration"])
        return r.sections

    first = numbers(3)
    for section in first.values():  # wall times differ run to run
        for curve in section.get("curves", []):
            curve.pop("seconds", None)
    second = numbers(3)
    for section in second.values():
        for curve in section.get("curves", []):
            curve.pop("seconds", None)
    assert first == second


def test_ood_set_of_another_shape_is_converted_and_recorded(data_dir: Path) -> None:
    result = audit(digits_classifier(), "digits", ood=["cifar10"], data_dir=data_dir,
                   budget=TINY, sections=["ood"], show_progress=False)
    cifar = result.sections["ood"]["datasets"][0]
    assert cifar["name"] == "cifar10" and cifar["n"] == TINY.ood_n
    assert "32x32 -> 28x28" in cifar["conversion"] and "grey" in cifar["conversion"]


def test_bad_input_is_refused_before_any_work(tmp_path: Path) -> None:
    clf = digits_classifier()
    empty = data.load("digits", "test").subset(indices=[])
    with pytest.raises(BrittleError, match="empty"):
        audit(clf, empty, budget=TINY)
    with pytest.raises(BrittleError, match="n=5000"):
        audit(clf, "digits", n=5000, budget=TINY)
    with pytest.raises(BrittleError, match="unknown audit section"):
        audit(clf, "digits", sections=["speed"], budget=TINY)
    with pytest.raises(BrittleError, match="unknown budget"):
        audit(clf, "digits", budget="lavish")
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(BrittleError, match="output directory"):
        audit(clf, "digits", budget=TINY, out=blocker / "sub")


def test_crash_mid_audit_leaves_no_half_written_results(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    def crash(ctx: Any) -> dict[str, Any]:
        raise RuntimeError("section crashed")

    monkeypatch.setitem(audit_run.SECTIONS, "calibration", crash)
    with pytest.raises(RuntimeError, match="section crashed"):
        audit(digits_classifier(), "digits", budget=TINY, out=tmp_path,
              sections=["accuracy", "calibration"], show_progress=False)
    assert list(tmp_path.iterdir()) == []

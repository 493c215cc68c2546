"""The findings that open the report: the 3-5 facts that matter most, in plain words.

Each candidate gets a weight (how bad it is); the heaviest five are kept. Every finding links
to the evidence (an anchor of the report) and quotes its numbers with their intervals' n.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

MAX_FINDINGS = 5


def findings(sections: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Ranked findings from the sections' results (absent or skipped sections add none)."""
    candidates: list[tuple[float, dict[str, Any]]] = []
    for name, make in (("accuracy", _accuracy), ("adversarial", _adversarial),
                       ("corruptions", _corruptions), ("ood", _ood),
                       ("calibration", _calibration)):
        section = sections.get(name)
        if isinstance(section, Mapping) and "skipped" not in section:
            candidates.extend(make(section))
    candidates.sort(key=lambda c: -c[0])
    chosen = [f for _, f in candidates[:MAX_FINDINGS]]
    return [{"id": f"f{i}", **f} for i, f in enumerate(chosen, 1)]


def _finding(weight: float, section: str, anchor: str, title: str,
             text: str) -> tuple[float, dict[str, Any]]:
    severity = "high" if weight >= 0.6 else "medium" if weight >= 0.3 else "low"
    return weight, {"severity": severity, "section": section, "anchor": anchor, "title": title,
                    "text": text}


def _pct(value: float) -> str:
    return f"{100 * value:.1f}%"


def _accuracy(s: Mapping[str, Any]) -> list[tuple[float, dict[str, Any]]]:
    classes = sorted(s["per_class"], key=lambda c: c["miss"]["value"])
    if len(classes) < 2:
        return []
    best, worst = classes[0], classes[-1]
    w, b = worst["miss"]["value"], best["miss"]["value"]
    ratio = f"{w / b:.1f}x as often as" if b > 0 else "while it never misses"
    out = [_finding(min(1.0, 5 * w), "accuracy", "accuracy-classes",
                    f"Class {worst['name']} is missed most",
                    f"Class {worst['name']} is missed {_pct(w)} of the time "
                    f"(n={worst['miss']['n']}), {ratio} class {best['name']} ({_pct(b)}).")]
    pairs = s.get("confused_pairs") or []
    if pairs:
        p = pairs[0]
        out.append(_finding(min(0.5, 3 * p["rate"]["value"]), "accuracy", "accuracy-pairs",
                            "Most confused pair",
                            f"{p['count']} images of class {_name(s, p['true'])} are taken "
                            f"for {_name(s, p['predicted'])} ({_pct(p['rate']['value'])} of "
                            "that class)."))
    return out


def _name(s: Mapping[str, Any], index: int) -> str:
    names = {c["index"]: c["name"] for c in s["per_class"]}
    return str(names.get(index, index))


def _adversarial(s: Mapping[str, Any]) -> list[tuple[float, dict[str, Any]]]:
    out = []
    curve = s["curves"][-1]
    clean, robust = curve["robust_accuracy"][0]["value"], curve["robust_accuracy"][-1]["value"]
    eps = curve["eps"][-1]
    out.append(_finding(clean - robust, "adversarial", "adversarial-curves",
                        f"{curve['attack'].upper()} at eps {eps:.3g} breaks the model"
                        if robust < 0.5 else f"Robust accuracy at eps {eps:.3g}",
                        f"Under {curve['attack']} (Linf eps {eps:.3g}) accuracy falls from "
                        f"{_pct(clean)} to {_pct(robust)} "
                        f"(n={curve['robust_accuracy'][-1]['n']})."))
    spearman = s.get("spearman") or {}
    success = spearman.get("success") or []
    if len(success) >= 2:
        names, eps = spearman["classes"], spearman["eps"]
        worst = max(range(len(success)), key=lambda i: success[i])
        best = min(range(len(success)), key=lambda i: success[i])
        rho = spearman.get("rho")
        link = (f" Classes missed more often also fall more often (Spearman rho {rho:.2f})."
                if rho is not None and rho >= 0.5 else "")
        out.append(_finding(success[worst] - success[best], "adversarial",
                            "adversarial-classes", f"Class {names[worst]} falls first",
                            f"At eps {eps:.3g}, PGD breaks {_pct(success[worst])} of class "
                            f"{names[worst]} but {_pct(success[best])} of class "
                            f"{names[best]}.{link}"))
    for m in s.get("masking", []):
        if m.get("flagged"):
            weight = 0.95 if m["severity"] in ("fail", "high") else 0.5
            out.append(_finding(weight, "adversarial", "adversarial-masking",
                                "Robustness numbers may not be trustworthy", m["message"]))
    return out


def _corruptions(s: Mapping[str, Any]) -> list[tuple[float, dict[str, Any]]]:
    rows = sorted(s["per_corruption"], key=lambda r: r["mean_accuracy"])
    if not rows:
        return []
    clean = s["clean_accuracy"]["value"]
    worst = rows[0]
    names = ", ".join(r["corruption"].replace("_", " ") for r in rows[:3])
    return [_finding(clean - worst["mean_accuracy"], "corruptions", "corruptions-table",
                     f"{worst['corruption'].replace('_', ' ').capitalize()} hurts most",
                     f"Mean accuracy over {s['suite']} is {_pct(s['mean_accuracy'])} against "
                     f"{_pct(clean)} clean; the worst corruptions are {names} "
                     f"({_pct(worst['mean_accuracy'])} for the first, averaged over "
                     "severities).")]


def _ood(s: Mapping[str, Any]) -> list[tuple[float, dict[str, Any]]]:
    out = []
    datasets = [d["name"] for d in s["datasets"]]
    for name in datasets:
        rows = [r for r in s["results"] if r["dataset"] == name]
        if not rows:
            continue
        best = max(rows, key=lambda r: r["auroc"])
        msp = next((r for r in rows if r["detector"] == "msp"), best)
        weight = 1.0 - best["auroc"] + 0.5 * max(0.0, best["auroc"] - msp["auroc"])
        out.append(_finding(weight, "ood", "ood-table", f"Telling {name} apart",
                            f"Against {name}, the best detector ({best['detector']}) reaches "
                            f"AUROC {best['auroc']:.3f} (FPR@95 {_pct(best['fpr95'])}); the "
                            f"softmax confidence (msp) reaches {msp['auroc']:.3f}."))
    return out


def _calibration(s: Mapping[str, Any]) -> list[tuple[float, dict[str, Any]]]:
    before, after = s["before"]["ece"], s["after"]["ece"]
    out = [_finding(3 * before, "calibration", "calibration-reliability",
                    "Confidence versus accuracy",
                    f"Expected calibration error is {_pct(before)}; temperature scaling "
                    f"(T = {s['temperature']:.2f}) brings it to {_pct(after)}.")]
    shift = s.get("under_shift") or []
    if shift:
        worst = max(shift, key=lambda r: r["ece"])
        out.append(_finding(worst["ece"], "calibration", "calibration-shift",
                            "Overconfident under shift",
                            f"Under {worst['corruption'].replace('_', ' ')} (severity "
                            f"{worst['severity']}) the model is {_pct(worst['accuracy'])} "
                            f"accurate but its calibration error rises to {_pct(worst['ece'])}."))
    return out

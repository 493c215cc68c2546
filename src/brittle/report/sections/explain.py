"""Explanations: example maps, the Adebayo sanity check, clean versus adversarial maps."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from brittle.report.html import esc, heading, kpis, num, pct, png_img, table
from brittle.report.sections.common import class_label, class_names

TITLE = "Explanations"
LEAD = ("Where the model looks when it decides: attribution maps for the predicted class on a "
        "few test images, a check that the maps really depend on the trained weights, and how "
        "the maps change when an attack flips the prediction.")
ANCHORS = [("explain-examples", "Example maps"), ("explain-sanity", "Sanity check"),
           ("explain-adversarial", "Clean vs adversarial")]
#: Plain names of the registered explainers (others are shown by their registry name).
LABELS = {"saliency": "Gradient saliency", "smoothgrad": "SmoothGrad",
          "integrated_gradients": "Integrated Gradients", "gradcam": "Grad-CAM",
          "gradcam_plus_plus": "Grad-CAM++"}
SIZE = 72


def render(data: Mapping[str, Any], result: Mapping[str, Any]) -> str:
    names = class_names(result)
    sanity = data.get("sanity") or {}
    verdicts = sanity.get("passed") or {}
    passed = sum(bool(v) for v in verdicts.values())
    completeness = data.get("completeness") or {}
    parts = [kpis([("explainers", esc(len(data.get("methods") or []))),
                   ("sanity check passed", esc(f"{passed} of {len(verdicts)}")),
                   ("IG completeness gap", esc(pct(completeness.get("mean_gap"), 2)))])]
    parts += [heading(3, "explain-examples", "What the model looks at"),
              _examples(data, names)]
    parts += [heading(3, "explain-sanity", "Sanity check: do the maps depend on the model?"),
              _sanity(sanity), _completeness(completeness)]
    parts += [heading(3, "explain-adversarial", "Clean vs adversarial"),
              _adversarial(data.get("clean_vs_adversarial") or {}, names)]
    return "".join(parts)


def label(method: object) -> str:
    """The plain name of an explainer."""
    return LABELS.get(str(method), str(method))


def pic(b64: object, alt: str, size: int = SIZE) -> str:
    """A small embedded PNG shown at ``size`` pixels, pixels kept sharp."""
    img = png_img(b64, alt)
    return img.replace("<img ", f'<img style="width:{size}px;height:{size}px" ', 1)


def _legend(display: Mapping[str, Any]) -> str:
    signed = [label(m) for m, kind in display.items() if kind == "signed"]
    overlay = [label(m) for m, kind in display.items() if kind == "overlay"]
    bits = []
    if signed:
        bits.append(f"{esc(', '.join(signed))}: <b style=\"color:#b3261e\">red</b> pixels raise "
                    "the predicted class's score, <b style=\"color:#2456a6\">blue</b> ones lower "
                    "it, white ones do not matter")
    if overlay:
        bits.append(f"{esc(', '.join(overlay))}: the hotter (red, yellow) the overlay, the more "
                    "that region supports the predicted class")
    return f'<p class="note">{"; ".join(bits)}. Maps are scaled per image for display.</p>'


def _examples(data: Mapping[str, Any], names: list[str]) -> str:
    examples = data.get("examples") or []
    methods = [str(m) for m in data.get("methods") or []]
    if not examples or not methods:
        return '<p class="note">No example maps were recorded.</p>'
    headers = [""] + [f"#{ex.get('index')}" for ex in examples]
    images = ["image"] + [_captioned(ex.get("image_png"), f"test image {ex.get('index')}",
                                     _prediction(ex, names)) for ex in examples]
    rows = [images] + [[esc(label(m))] + [pic((ex.get("maps") or {}).get(m),
                                              f"{label(m)} of image {ex.get('index')}")
                                          for ex in examples] for m in methods]
    return (_legend(data.get("display") or {})
            + '<p class="note">Each column is one test image (true class and the model\'s '
            "prediction with its confidence below it); each row is one explanation method, "
            "always for the predicted class.</p>" + table(headers, rows))


def _prediction(ex: Mapping[str, Any], names: list[str]) -> str:
    true, pred = class_label(names, ex.get("label")), class_label(names, ex.get("pred"))
    mark = "" if ex.get("label") == ex.get("pred") else " ✗"
    return f"true {true}<br>pred {pred} {pct(ex.get('confidence'), 0)}{mark}"


def _captioned(b64: object, alt: str, caption: str, size: int = SIZE) -> str:
    """An image with a caption; ``caption`` may hold ``<br>`` and is otherwise escaped."""
    text = "<br>".join(esc(part) for part in caption.split("<br>"))
    return f'<figure class="ex">{pic(b64, alt, size)}<figcaption>{text}</figcaption></figure>'


def _sanity(sanity: Mapping[str, Any]) -> str:
    methods = sanity.get("methods") or {}
    if not methods:
        return '<p class="note">The sanity check was not run.</p>'
    threshold = sanity.get("threshold")
    rows = []
    for name, m in methods.items():
        curve = m.get("spearman_abs") or []
        ssim = m.get("ssim") or []
        rows.append([_verdict(m.get("passed")), esc(label(name)),
                     esc(num(m.get("final_spearman_abs"), 2)),
                     esc(num(ssim[-1] if ssim else None, 2)),
                     esc(" → ".join(f"{layer} {num(v, 2)}" for layer, v in
                                    zip(m.get("layers") or [], curve, strict=False)))])
    failed = [label(n) for n, m in methods.items() if not m.get("passed")]
    verdict = (f"<b>{esc(', '.join(failed))} failed</b>: those maps look the same for a model "
               "with random weights, so they show the image rather than what this model learned; "
               "do not read them as explanations." if failed
               else "Every checked method passed: its maps change when the weights are "
                    "destroyed, so they reflect what this model learned.")
    return (f"<p>Following Adebayo et al. (2018), the weights are replaced by random ones layer "
            f"by layer, from the output down, and the maps of {esc(sanity.get('n', '?'))} test "
            "images are recomputed after each step. A trustworthy method's maps stop resembling "
            "the trained model's maps; a method passes when the rank correlation of the "
            f"absolute maps ends below {esc(num(threshold, 2))}. {verdict}</p>"
            + table(["verdict", "method", "final rank correlation", "final SSIM",
                     "rank correlation as layers are randomized (output first)"], rows,
                    numeric=[2, 3]))


def _verdict(passed: object) -> str:
    if passed is None:
        return '<span class="badge">n/a</span>'
    word = "ok" if passed else "fail"
    return f'<span class="badge {word}">{"pass" if passed else "fail"}</span>'


def _completeness(completeness: Mapping[str, Any]) -> str:
    if not completeness or completeness.get("mean_gap") is None:
        return ""
    return (f"<p>Integrated Gradients ({esc(completeness.get('steps', '?'))} steps from a "
            f"{esc(completeness.get('baseline', 'baseline'))}): the attributions add up to the "
            "change of the class score along the path to within "
            f"<b>{esc(pct(completeness['mean_gap'], 2))}</b> on average (worst "
            f"{esc(pct(completeness.get('max_gap'), 2))}, n={esc(completeness.get('n', '?'))}). "
            "A gap above a few percent means the integral needs more steps.</p>")


def _adversarial(section: Mapping[str, Any], names: list[str]) -> str:
    attack = section.get("attack") or {}
    examples: Sequence[Mapping[str, Any]] = section.get("examples") or []
    intro = ""
    if attack:
        intro = (f"<p>{esc(str(attack.get('name', '?')).upper())} (Linf, eps "
                 f"{esc(num(attack.get('eps'), 3))}, {esc(attack.get('steps', '?'))} steps) "
                 f"broke {esc(attack.get('broken', '?'))} of {esc(attack.get('tried', '?'))} "
                 "correctly classified test images. Clean images are explained for their true "
                 "class, attacked ones for the class the attack pushed them into.</p>")
    if not examples:
        return intro + '<p class="note">No image was broken, so there is nothing to compare.</p>'
    methods = [m for m in ("saliency", "gradcam") if f"clean_{m}_png" in examples[0]]
    headers = (["clean image"] + [label(m) for m in methods] + ["attacked image"]
               + [label(m) for m in methods] + ["map similarity"])
    rows = []
    for ex in examples:
        true = class_label(names, ex.get("label"))
        adv = class_label(names, ex.get("adv_pred"))
        index = ex.get("index")
        row = [_captioned(ex.get("clean_png"), f"clean image {index}", f"#{index}<br>true {true}")]
        row += [pic(ex.get(f"clean_{m}_png"), f"{label(m)} of clean image {index}")
                for m in methods]
        row.append(_captioned(ex.get("adversarial_png"), f"attacked image {index}",
                              f"pred {adv} {pct(ex.get('adv_conf'), 0)}"))
        row += [pic(ex.get(f"adversarial_{m}_png"), f"{label(m)} of attacked image {index}")
                for m in methods]
        row.append(_similarity(ex.get("similarity") or {}))
        rows.append(row)
    return (intro + table(headers, rows)
            + '<p class="note">Map similarity: rank correlation of the absolute maps (1 = the '
            "same pixels matter in the same order, 0 = unrelated). A low value means the attack "
            "changed where the model looks, not only its answer.</p>")


def _similarity(similarity: Mapping[str, Any]) -> str:
    return "<br>".join(f"{esc(label(m))}: {esc(num((s or {}).get('spearman_abs'), 2))}"
                       for m, s in similarity.items())

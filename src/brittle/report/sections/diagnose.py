"""Diagnosis: root-cause cards for the most confused pairs, label suspects, ambiguous images."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from brittle.report.html import esc, heading, kpis, num, pct, table
from brittle.report.sections.common import class_label, class_names
from brittle.report.sections.explain import label, pic

TITLE = "Root causes and label suspects"
LEAD = ("Why the most frequent mistakes happen (where the model looks on the misread images "
        "compared with correctly read ones of the same class) and which test images may carry a "
        "wrong label.")
ANCHORS = [("diagnose-pairs", "Root causes of confusions"),
           ("diagnose-suspects", "Label suspects")]
ALPHA = 0.05
#: Border colour statistics of the images: key -> plain name.
BACKGROUND = {"intensity": "brightness of the border (0 black, 1 white)",
              "hue": "hue of the border (degrees)", "saturation": "saturation of the border",
              "value": "brightness of the border"}
#: Border colour statistic -> (words when errors are larger, words when smaller).
SHIFT = {"intensity": ("brighter", "darker"), "value": ("brighter", "darker"),
         "saturation": ("more saturated", "less saturated"), "hue": ("of another hue",) * 2}
FEW = 5
CARD = "border:1px solid #d9dee5;border-radius:6px;padding:10px 14px;margin:0 0 14px"


def render(data: Mapping[str, Any], result: Mapping[str, Any]) -> str:
    names = class_names(result)
    suspects = data.get("suspects") or {}
    return "".join([heading(3, "diagnose-pairs", "Root causes of the most confused pairs"),
                    _pairs(data.get("pairs") or [], data.get("min_errors")),
                    heading(3, "diagnose-suspects", "Label suspects"),
                    _suspects(suspects, names), _ambiguous(suspects.get("ambiguous") or {},
                                                           names)])


def _pairs(pairs: Sequence[Mapping[str, Any]], min_errors: object) -> str:
    if not pairs:
        return ('<p class="note">No class pair had enough mistakes to compare (at least '
                f"{esc(min_errors if min_errors is not None else '?')} are needed).</p>")
    intro = ('<p class="note">For each pair, the images of the true class the model misread '
             "(errors, explained for the wrong class) are compared with the images of that class "
             "it read correctly (explained for the right class). The maps are class averages of "
             "where the attribution goes, on one colour scale per row (brighter = more "
             "attribution). The border is the outer band of the image: a model that leans on "
             "the border is looking at the background, not the object. p: two-sided "
             "Mann-Whitney U test; effect size: rank-biserial correlation from -1 to 1 "
             "(positive: errors larger).</p>")
    return intro + "".join(_card(p) for p in pairs)


def _card(pair: Mapping[str, Any]) -> str:
    true, pred = str(pair.get("true_name", "?")), str(pair.get("predicted_name", "?"))
    n_err, n_ok = pair.get("n_errors", 0), pair.get("n_correct", 0)
    title = f"{true} read as {pred}: {n_err} errors vs {n_ok} correct"
    images = pair.get("mean_images") or {}
    maps = pair.get("mean_maps") or {}
    headers = ["", f"errors: {true} read as {pred}", f"correct: {true} read as {true}"]
    rows = [["mean image"] + [pic(images.get(f"{g}_png"), f"mean {g} image", 96)
                              for g in ("errors", "correct")]]
    rows += [[esc(label(m))] + [pic((maps.get(m) or {}).get(f"{g}_png"),
                                    f"mean {label(m)} map of {g}", 96)
                                for g in ("errors", "correct")] for m in maps]
    facts = [_border(m, stats, pair.get("border_area_share"))
             for m, stats in (pair.get("border_share") or {}).items()]
    facts += [_background(name, stats) for name, stats in (pair.get("background") or {}).items()]
    few = (f'<p class="note">Only {esc(n_err)} errors: read the statistics as a hint.</p>'
           if isinstance(n_err, int) and n_err < FEW else "")
    band = pair.get("band")
    words = (f"<p><b>Likely cause:</b> {esc(_cause(pair))}</p>"
             f"<ul>{''.join(f'<li>{f}</li>' for f in facts)}</ul>"
             f'<p class="note">Border band: the outer {esc(band)} pixels.</p>' + few)
    return (f'<div style="{CARD}"><h4>{esc(title)}</h4><div class="figs">'
            f"{table(headers, rows)}<div style=\"flex:1;min-width:320px\">{words}</div>"
            "</div></div>")


def _significant(stats: Mapping[str, Any]) -> int:
    """+1 / -1 when errors are clearly larger / smaller, 0 otherwise."""
    test = stats.get("test") or {}
    p, effect = test.get("p_value"), test.get("effect_size")
    if p is None or effect is None or p >= ALPHA:
        return 0
    return 1 if effect > 0 else -1


def _cause(pair: Mapping[str, Any]) -> str:
    if pair.get("n_correct") == 0:
        return (f"the model reads no image of {pair.get('true_name', '?')} correctly, so there "
                "is nothing to compare the mistakes with: it has not learned this class.")
    shares = pair.get("border_share") or {}
    up = [label(m) for m, s in shares.items() if _significant(s) > 0]
    down = [label(m) for m, s in shares.items() if _significant(s) < 0]
    background = [SHIFT.get(k, (f"higher in {k}", f"lower in {k}"))[_significant(s) < 0]
                  for k, s in (pair.get("background") or {}).items() if _significant(s)]
    if up:
        text = (f"the misread images put more attribution on the border ({', '.join(up)}): the "
                "background, not the object, may be pulling them into the wrong class.")
    elif down:
        text = (f"the misread images put less attribution on the border ({', '.join(down)}), "
                "so the model looks at the object itself: the shape is what resembles the other "
                "class (compare the mean images).")
    else:
        text = ("no clear difference in where the model looks, so the shape itself is what "
                "resembles the other class (compare the mean images).")
    if background:
        text += (f" Their border is also {' and '.join(background)} than that of correctly "
                 "read ones.")
    return text


def _test(stats: Mapping[str, Any]) -> str:
    test = stats.get("test")
    if not test:
        return "(no test: a group is empty)"
    effect = test.get("effect_size")
    side = "" if effect is None else (", errors larger" if effect > 0 else ", errors smaller"
                                      if effect < 0 else "")
    verdict = "" if _significant(stats) else "; not a clear difference"
    return (f"(p = {num(test.get('p_value'), 3)}, effect size {num(effect, 2)}{side}"
            f"{verdict})")


def _border(method: str, stats: Mapping[str, Any], area: object) -> str:
    errors, correct = stats.get("errors") or {}, stats.get("correct") or {}
    uniform = (f" A map spread evenly would put {pct(area, 0)} there."
               if isinstance(area, float) else "")
    return esc(f"{label(method)}: errors put {pct(errors.get('mean'))} of their attribution "
               f"on the border vs {pct(correct.get('mean'))} for correct ones "
               f"{_test(stats)}.{uniform}")


def _background(name: str, stats: Mapping[str, Any]) -> str:
    errors, correct = stats.get("errors") or {}, stats.get("correct") or {}
    digits = 0 if name == "hue" else 3
    return esc(f"Image {BACKGROUND.get(name, name)}: errors {num(errors.get('mean'), digits)} vs "
               f"correct {num(correct.get('mean'), digits)} {_test(stats)}.")


def _suspects(suspects: Mapping[str, Any], names: list[str]) -> str:
    if not suspects:
        return '<p class="note">Label suspects were not computed.</p>'
    count, n = suspects.get("count", 0), suspects.get("n", "?")
    parts = [kpis([("suspects", esc(f"{count} of {n}")),
                   ("estimated wrong labels", _noise(suspects.get("estimated_noise_rate")))]),
             "<p>Suspects are test images whose given label the model argues against with "
             "confidence (confident learning, Northcutt et al. 2021, with the audited model's "
             "own probabilities). They are worth a human look, not proven labelling mistakes: "
             "a suspect is either mislabelled or a confident mistake of the model. Most "
             "suspicious first.</p>"]
    top = suspects.get("top") or []
    if not top:
        parts.append('<p class="note">No test image is a suspect.</p>')
        return "".join(parts)
    figures = []
    for row in top:
        given = row.get("given_name", class_label(names, row.get("given")))
        pred = row.get("predicted_name", class_label(names, row.get("predicted")))
        figures.append(_figure(row.get("image_png"), f"suspect test image {row.get('index')}",
                               [f"#{row.get('index')}", f"given {given} → {pred}",
                                f"p(given) {pct(row.get('p_given'), 1)}"]))
    parts.append(f"<div>{''.join(figures)}</div>")
    if count > len(top):
        parts.append(f'<p class="note">The {esc(len(top))} most suspicious of {esc(count)} '
                     "are shown; results.json lists them all with their scores.</p>")
    return "".join(parts)


def _noise(rate: Mapping[str, Any] | None) -> str:
    """The estimated count of wrong labels with its share and interval (two decimals: the
    shares are often well below one percent)."""
    if not rate or not rate.get("n"):
        return "n/a"
    share = (f"{pct(rate.get('value'), 2)}, 95% CI {pct(rate.get('low'), 2)}–"
             f"{pct(rate.get('high'), 2)}, n={rate['n']}")
    return f'{esc(rate.get("k", "?"))} <span class="ci">{esc(share)}</span>'


def _ambiguous(ambiguous: Mapping[str, Any], names: list[str]) -> str:
    top = ambiguous.get("top") or []
    if not top:
        return ""
    threshold = ambiguous.get("threshold")
    figures = [_figure(row.get("image_png"), f"ambiguous test image {row.get('index')}",
                       [f"#{row.get('index')}",
                        f"{row.get('top1_name', class_label(names, row.get('top1')))} or "
                        f"{row.get('top2_name', class_label(names, row.get('top2')))}",
                        f"margin {num(row.get('margin'), 2)}"]) for row in top]
    return (f"<h4>Ambiguous images</h4><p>{esc(ambiguous.get('count', len(top)))} test images "
            "(not suspects) on which the model hesitates between two classes (top-two "
            f"probability margin at most {esc(num(threshold, 2))}); the most ambiguous:</p>"
            f"<div>{''.join(figures)}</div>")


def _figure(b64: object, alt: str, lines: Sequence[str]) -> str:
    caption = "<br>".join(esc(line) for line in lines)
    return f'<figure class="ex">{pic(b64, alt, 64)}<figcaption>{caption}</figcaption></figure>'

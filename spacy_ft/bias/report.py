"""Audit output: JSON (everything), a short text summary, one-file HTML with plots.

Plots are matplotlib bar charts (Agg backend: no display needed on CI) with
bootstrap-interval whiskers, embedded as base64 PNG so the report is one file
that can be attached to a CI run or mailed.
"""

from __future__ import annotations

import base64
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Optional, Sequence

from spacy_ft.types import PathLike

GROUP_METRICS = ("accuracy", "selection_rate", "tpr", "fpr")


def _fmt(value: Optional[float]) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _ci(ci: Optional[Sequence[float]]) -> str:
    return "" if not ci else f" [{ci[0]:.3f}, {ci[1]:.3f}]"


# -- text ------------------------------------------------------------------------


def summary_lines(result: dict[str, Any]) -> list[str]:
    """A few lines: exceeded thresholds and flags first, then the headline numbers."""
    lines = [
        f"EXCEEDED {c['metric']} ({c['where']}): {_fmt(c['value'])} vs {c['check']} {c['threshold']}"
        for c in result.get("checks", [])
        if c["exceeded"]
    ]
    headline = []
    for label, per_attribute in (result.get("classifier") or {}).items():
        for attribute, report in per_attribute.items():
            lines.extend(_classifier_flags(label, attribute, report))
            headline.append(_classifier_line(label, attribute, report))
    for attribute, report in (result.get("counterfactual") or {}).items():
        headline.append(
            f"counterfactual {attribute}: flip rate {_fmt(report['flip_rate'])}{_ci(report['flip_rate_ci'])}, "
            f"mean |dp| {_fmt(report['mean_abs_delta'])} over {report['n_variants']} variants"
        )
    for attribute, report in (result.get("ner") or {}).items():
        recall = ", ".join(f"{g} {_fmt(r['rate'])}" for g, r in report["recall"].items())
        gap = report["largest_gap"]
        headline.append(
            f"NER name swap {attribute} ({report['source']}): recall {recall}; "
            f"gap {_fmt(gap['value'])}{_ci(gap['ci'])}"
        )
    if not lines:
        lines.append("no threshold exceeded" if result.get("checks") else "no thresholds configured")
    return lines + headline + [f"warning: {w}" for w in _all_warnings(result)]


def _classifier_flags(label: str, attribute: str, report: dict[str, Any]) -> Iterator[str]:
    di = report.get("disparate_impact_ratio")
    if di and di["four_fifths_flag"]:
        yield f"FLAG four-fifths rule: {attribute} selection of {label!r} has DI ratio {_fmt(di['value'])} < 0.8"
    dpd = report.get("demographic_parity_difference")
    if dpd and dpd["ci"] and dpd["ci"][0] > 0:
        yield f"FLAG {attribute}: parity difference for {label!r} {_fmt(dpd['value'])}, CI{_ci(dpd['ci'])} excludes 0"


def _classifier_line(label: str, attribute: str, report: dict[str, Any]) -> str:
    rates = ", ".join(f"{g} {_fmt(s['selection_rate'])} (n={s['n']})" for g, s in report["groups"].items())
    if len(report["groups"]) < 2:
        return f"{label!r} by {attribute}: {rates or 'no doc mentions one group'}; nothing to compare"
    dpd = report.get("demographic_parity_difference", {})
    eod = report.get("equalized_odds_difference", {})
    di = report.get("disparate_impact_ratio", {})
    return (
        f"{label!r} by {attribute}: selection {rates}; DPD {_fmt(dpd.get('value'))}{_ci(dpd.get('ci'))}, "
        f"EOD {_fmt(eod.get('value'))}, DI {_fmt(di.get('value'))}"
    )


def _all_warnings(result: dict[str, Any]) -> list[str]:
    found = list(result.get("warnings", []))
    for label, per_attribute in (result.get("classifier") or {}).items():
        for attribute, report in per_attribute.items():
            found.extend(f"{label!r} by {attribute}: {w}" for w in report.get("warnings", []))
    return found


def summary_text(result: dict[str, Any]) -> str:
    return "\n".join(summary_lines(result)) + "\n"


# -- plots -----------------------------------------------------------------------


def bar_chart(
    title: str, values: dict[str, Optional[float]], cis: dict[str, Optional[Sequence[float]]]
) -> str:
    """A bar per group with its interval as whiskers, as a base64 PNG."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    names = list(values)
    heights = [value if value is not None else 0.0 for value in values.values()]
    intervals = [cis.get(n) for n in names]
    low = [max(0.0, h - ci[0]) if ci else 0.0 for ci, h in zip(intervals, heights)]
    high = [max(0.0, ci[1] - h) if ci else 0.0 for ci, h in zip(intervals, heights)]
    figure, axes = pyplot.subplots(figsize=(max(3.0, 1.1 * len(names) + 1.5), 2.8), dpi=90)
    try:
        axes.bar(names, heights, yerr=[low, high], capsize=4, color="#4c72b0")
        axes.set_ylim(0, 1.05)
        axes.set_title(title, fontsize=9)
        axes.tick_params(labelsize=8)
        figure.tight_layout()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
    finally:
        pyplot.close(figure)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


@dataclass(frozen=True)
class Chart:
    """A PNG (base64) for the page, with its alt text."""

    png: str
    alt: str


#: Gap metrics listed under each classifier table, with their names on the page.
GAP_NAMES = (
    ("demographic_parity_difference", "demographic parity difference"),
    ("equalized_odds_difference", "equalized-odds difference"),
    ("disparate_impact_ratio", "disparate-impact ratio (flag below 0.8)"),
)


def _classifier_section(label: str, attribute: str, report: dict[str, Any]) -> dict[str, Any]:
    groups = report["groups"]
    plots = [
        Chart(
            bar_chart(
                f"{metric} of {label} by {attribute}",
                {g: s[metric] for g, s in groups.items()},
                {g: s[f"{metric}_ci"] for g, s in groups.items()},
            ),
            f"{metric} by {attribute}",
        )
        for metric in GROUP_METRICS
    ]
    excluded = json.dumps(report.get("excluded", {}))
    return {"label": label, "attribute": attribute, "report": report, "plots": plots, "excluded": excluded}


def _ner_section(attribute: str, report: dict[str, Any]) -> dict[str, Any]:
    values = {g: r["rate"] for g, r in report["recall"].items()}
    cis = {g: r["ci"] for g, r in report["recall"].items()}
    plot = Chart(bar_chart(f"entity recall by {attribute}", values, cis), f"recall by {attribute}")
    return {"attribute": attribute, "report": report, "plot": plot}


def html_report(result: dict[str, Any], title: str = "spacy_ft bias audit") -> str:
    """The audit as one self-contained page (charts inline), from a Jinja2 template
    that escapes every value it prints."""
    from spacy_ft.evaluation.templates import render

    counterfactual = result.get("counterfactual") or {}
    counterfactual_plot = None
    if counterfactual:
        values = {a: r["flip_rate"] for a, r in counterfactual.items()}
        cis = {a: r["flip_rate_ci"] for a, r in counterfactual.items()}
        counterfactual_plot = Chart(bar_chart("flip rate by attribute", values, cis), "flip rate")
    return render(
        "bias_audit.html.j2",
        title=title,
        summary=summary_text(result),
        group_metrics=GROUP_METRICS,
        gap_names=GAP_NAMES,
        classifier_sections=[
            _classifier_section(label, attribute, report)
            for label, per_attribute in (result.get("classifier") or {}).items()
            for attribute, report in per_attribute.items()
            if report.get("groups")
        ],
        counterfactual=counterfactual,
        counterfactual_plot=counterfactual_plot,
        ner_sections=[_ner_section(a, r) for a, r in (result.get("ner") or {}).items()],
    )


def json_safe(value: Any) -> Any:
    """NaN (a metric undefined for a group) becomes null: strict JSON readers reject NaN."""
    if isinstance(value, float):
        return None if math.isnan(value) else value
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    return value


def write_reports(result: dict[str, Any], output_dir: PathLike) -> dict[str, Path]:
    """audit.json, audit.html and summary.txt in ``output_dir``."""
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "audit.json", "html": out / "audit.html", "summary": out / "summary.txt"}
    paths["json"].write_text(json.dumps(json_safe(result), indent=2, ensure_ascii=False), encoding="utf-8")
    paths["html"].write_text(html_report(result), encoding="utf-8")
    paths["summary"].write_text(summary_text(result), encoding="utf-8")
    return paths

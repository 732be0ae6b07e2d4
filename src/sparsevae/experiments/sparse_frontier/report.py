"""The frontier's report: points per model and code, the table at the target sparsities, figures
(non-zeros against reconstruction error and against probe accuracy, code usage) and a verdict of
which model is best where."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ...plots.curves import plot_metric_vs
from ..tables import fmt, markdown_table
from .protocol import CODES_OF, FrontierSettings

TOLERANCE = 0.2  # a run counts at a target when its non-zeros are within ±20 % of it
CODE_NAMES = {
    "sparse-mean": "γ·μ",
    "mean-active": "μ where active",
    "mean": "dense μ",
    "most-probable": "μ on the round(Σγ) likeliest",
    "best-draw": "best of 20 draws",
}


def points(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One point per run and code: ``series`` is the model kind, with the code for the
    spike-and-slab models (their default code is one of the three)."""
    out = []
    for row in rows:
        codes = CODES_OF.get(row["kind"], ())
        if codes and all(f"code_{code}" in row for code in codes):
            for code in codes:
                series = f"{row['kind']} ({CODE_NAMES[code]})"
                out.append({**row, **row[f"code_{code}"], "series": series, "code": code})
        else:
            out.append({**row, "series": row["kind"], "code": "default"})
    return out


def at_target(series_points: Sequence[dict[str, Any]], target: float) -> dict[str, Any] | None:
    """The point nearest ``target`` non-zeros within the tolerance, or None."""
    near = [p for p in series_points if abs(p["nonzeros"] - target) <= TOLERANCE * target]
    return min(near, key=lambda p: abs(p["nonzeros"] - target)) if near else None


def target_table(pts: Sequence[dict[str, Any]], targets: Sequence[int]) -> list[dict[str, Any]]:
    """For each series and target: the matched point (or none)."""
    table = []
    for series in dict.fromkeys(p["series"] for p in pts):
        own = [p for p in pts if p["series"] == series]
        for target in targets:
            table.append({"series": series, "target": target, "point": at_target(own, target)})
    return table


def verdict(table: Sequence[dict[str, Any]], targets: Sequence[int]) -> list[str]:
    """Which series reconstructs best and which probes best at each target (matched points)."""
    lines = []
    for target in targets:
        matched = [t for t in table if t["target"] == target and t["point"] is not None]
        if not matched:
            lines.append(f"- {target} non-zeros: no run within ±{TOLERANCE:.0%}.")
            continue
        best_sse = min(matched, key=lambda t: t["point"]["sse"])
        text = f"- {target} non-zeros: lowest SSE **{best_sse['series']}** "
        text += f"({best_sse['point']['sse']:.2f})"
        probed = [t for t in matched if t["point"].get("probe") is not None]
        if probed:
            best = max(probed, key=lambda t: t["point"]["probe"])
            text += f"; best probe **{best['series']}** ({100 * best['point']['probe']:.1f} %)"
        lines.append(text + ".")
    return lines


FIGURE_TICKS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)


def write_figures(pts: Sequence[dict[str, Any]], out: Path, dataset: str) -> list[str]:
    """Non-zeros against SSE and against probe accuracy, and the input-dependent share, for the
    sparse codes (a dense μ or an empty code is in the tables, not on a log axis of non-zeros)."""
    own = [p for p in pts if p["dataset"] == dataset and p["code"] != "mean" and p["nonzeros"] > 0]
    names = []
    specs = [
        ("sse", "squared error per image (sum over pixels)", 1.0),
        ("probe", "probe accuracy (%)", 100.0),
        ("active_1_to_99_percent_of_used", "used latents active for 1–99 % of images", 1.0),
    ]
    for key, label, scale in specs:
        if not any(p.get(key) is not None for p in own):
            continue
        name = f"frontier_{dataset}_{key}.png"
        plot_metric_vs(
            own, "nonzeros", key, out / name, label_key="series", logx=True, scale=scale, xticks=FIGURE_TICKS,
            xlabel="non-zero code elements per image", ylabel=label, title=dataset,
        )  # fmt: skip
        names.append(name)
    return names


def dataset_section(
    pts: Sequence[dict[str, Any]], settings: FrontierSettings, out: Path, dataset: str
) -> list[str]:
    own = [p for p in pts if p["dataset"] == dataset]
    table = target_table(own, settings.targets)
    matched = {entry["series"] for entry in table if entry["point"] is not None}
    header = ["model (code)", "target", "non-zeros", "SSE", "probe %", "dead", "used 1–99 %"]
    rows = []
    for entry in table:
        if entry["series"] not in matched:
            continue
        p = entry["point"] or {}
        rows.append(
            [
                entry["series"],
                entry["target"],
                fmt(p.get("nonzeros"), digits=1),
                fmt(p.get("sse")),
                fmt(p.get("probe"), 100.0, 1),
                p.get("dead_latents", "—"),
                fmt(p.get("active_1_to_99_percent_of_used"), 100.0, 0),
            ]
        )
    unmatched = [s for s in dict.fromkeys(e["series"] for e in table) if s not in matched]
    lines = [f"## {dataset}", "", *markdown_table(header, rows), ""]
    if unmatched:
        lines += [f"No run within ±{TOLERANCE:.0%} of a target: {', '.join(unmatched)}.", ""]
    lines += ["Which model is best where (runs within ±20 % of the target):", ""]
    lines += [*verdict(table, settings.targets), ""]
    lines += [f"![{name}]({name})" for name in write_figures(pts, out, dataset)]
    return [*lines, "", *all_runs_table(own), ""]


def all_runs_table(pts: Sequence[dict[str, Any]]) -> list[str]:
    """Every run and code, sorted by series and non-zeros."""
    header = ["model (code)", "knob", "non-zeros", "SSE", "probe %", "dead", "used 1–99 %"]
    rows = [
        [
            p["series"],
            f"{p['knob']} = {p['value']:g}",
            fmt(p.get("nonzeros"), digits=1),
            fmt(p.get("sse")),
            fmt(p.get("probe"), 100.0, 1),
            p.get("dead_latents", "—"),
            fmt(p.get("active_1_to_99_percent_of_used"), 100.0, 0),
        ]
        for p in sorted(pts, key=lambda p: (p["series"], p["nonzeros"]))
    ]
    return ["All runs:", "", *markdown_table(header, rows)]


def write_report(rows: Sequence[dict[str, Any]], settings: FrontierSettings, out: Path) -> Path:
    pts = points(rows)
    lines = [
        "# Sparse-coding frontier",
        "",
        f"J = {settings.latent_dim}, MLP {settings.hidden} hidden units, {settings.epochs} epochs, "
        f"batch {settings.batch_size}, Adam {settings.lr:g}, EMA {settings.ema_decay:g}, "
        f"{settings.likelihood} likelihood"
        + (f" (σ = {settings.likelihood_sigma:g})" if settings.likelihood == "gaussian" else "")
        + "; probe: standardised logistic regression on the codes "
        f"of {settings.probe_labels} random training images, scored on the test set.  SSE: "
        "squared error summed over the pixels, mean over the test images.  Dead: latents never "
        "non-zero on the test set; used 1–99 %: share of the other latents that are non-zero for "
        "between 1 % and 99 % of the test images (a code chosen per input has most of them).",
        "",
    ]
    for dataset in dict.fromkeys(p["dataset"] for p in pts):
        lines += dataset_section(pts, settings, out, dataset)
    path = out / "report.md"
    path.write_text("\n".join(lines))
    return path

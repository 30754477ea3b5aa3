"""The generic sections of a report, each a function
``section(doc, model, runs, settings)`` that adds itself to the document.

:func:`collect_runs` runs the scenarios and policies every section draws
on; the scenario, diagram, calibration, validity, reference and manifest
sections are always present, and :func:`default_sections` lists the
analysis sections (loops, ledger, sensitivity). A section that does not
apply to a model says why instead. Sections leave their results in
``runs`` (``loop_analyses``, ``knockouts``, ``audits``, ``sensitivity``)
for later sections, such as a case study's summary, to use; the loop
section lives in :mod:`pyloop.report.loop_section`.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import sys
from importlib import metadata
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from pyloop.declarations.paths import OPTIONS, declaration_path
from pyloop.declarations.scenarios import load_scenarios
from pyloop.engine import Model
from pyloop.report.document import Document, html_table, ledger_display, paragraph
from pyloop.report.loop_section import section_loops
from pyloop.report.settings import ReportSettings
from pyloop.runner import key_variables, plan_runs, run_together

__all__ = [
    "Section",
    "collect_runs",
    "default_sections",
    "equation_texts",
    "focus_scenarios",
    "missing",
    "reinforcing_share",
    "run_manifest",
    "section_calibration",
    "section_diagrams",
    "section_ledger",
    "section_loops",
    "section_manifest",
    "section_reference",
    "section_scenarios",
    "section_sensitivity",
    "section_validity",
    "skipped",
]

#: A section: adds itself to the document, may leave results in ``runs``.
Section = Callable[[Document, Model, dict[str, Any], ReportSettings], Any]


def missing(model: Model, kind: str) -> str:
    """Where a declaration file of ``kind`` would be, for a sentence."""
    return f"no {declaration_path(model, kind).name} beside it, and no {OPTIONS[kind]} FILE given"


def skipped(doc: Document, anchor: str, title: str, why: str) -> None:
    """A section that does not apply to this model, with the reason."""
    doc.add(anchor, title, paragraph(f"Not part of this report: {why}."))


def equation_texts(path: str | Path) -> dict[str, str]:
    """Equation text of every variable of a Vensim file, by name."""
    text = Path(path).read_text(encoding="utf-8", errors="replace")
    text = text.split("\\\\\\---///")[0]
    found: dict[str, str] = {}
    for block in text.split("|"):
        body = block.split("~")[0]
        lines = [line for line in body.splitlines() if line.strip() and not line.strip().startswith("*")]
        if not lines or "=" not in "".join(lines):
            continue
        joined = " ".join(line.strip().rstrip("\\") for line in lines)
        joined = joined.replace("{UTF-8}", "").strip()
        name, _, equation = joined.partition("=")
        name = " ".join(name.split())
        if name and not name.startswith("."):
            found[name] = " ".join(equation.split())
    return found


def focus_scenarios(runs: dict[str, Any], settings: ReportSettings) -> list[str]:
    """The focus scenarios the report runs, in the focus's order."""
    return [n for n in settings.focus.scenarios if n in runs["names"]]


# ------------------------------------------------------------------ runs
def collect_runs(model: Model, settings: ReportSettings, progress: Callable[[str], None]) -> dict[str, Any]:
    """Run the reported scenarios and, on the focus scenarios, every policy.

    Returns:
        ``scenario_file``, ``scenarios`` (the runs), ``policies`` (runs by
        base scenario, the base run first) and ``names`` (scenarios run).
    """
    from pyloop.plots.style import remember_order

    sf = load_scenarios(model)
    remember_order("scenario", sf.scenarios)  # each scenario keeps its colour in every figure
    names = list(settings.scenarios) or list(sf.scenarios)
    for name in names:
        sf.scenario(name)  # unknown names fail before any run
    policy_bases = [n for n in settings.focus.scenarios if n in names] or names[:1]
    if settings.quick:
        policy_bases = policy_bases[:1]
    progress("running scenarios and policies")
    # without scenarios, the model's own defaults are its only run
    plans = plan_runs(model, names or [None], scenarios=sf)
    policy_plans = {
        base: plan_runs(model, [base], scenarios=sf) + [plan_runs(model, [base], p, scenarios=sf)[0]
                                                        for p in sf.policies]
        for base in policy_bases
        if sf.policies
    }
    # they differ only in constants: one vectorised run for all of them
    every = plans + [plan for group in policy_plans.values() for plan in group]
    results = iter(run_together(model, every, raise_failure=True))
    scenarios = [next(results) for _ in plans]
    policies = {base: [next(results) for _ in group] for base, group in policy_plans.items()}
    return {"scenario_file": sf, "scenarios": scenarios, "policies": policies, "names": names}



# -------------------------------------------------------------- sections
def section_scenarios(doc: Document, model: Model, runs: dict[str, Any], settings: ReportSettings) -> None:
    """The scenarios and the policies, with the key variables of every run."""
    from pyloop.plots import comparison_figure
    from pyloop.comparison import summary

    sf = runs["scenario_file"]
    variables = key_variables(model, sf)
    rows = [
        {"scenario": s.name, "extends": s.extends or "", "description": s.description}
        for s in sf.scenarios.values()
        if s.name in runs["names"]
    ]
    if rows:
        body = paragraph("Outside conditions the model is run under; each sets constants only.")
        body += html_table(pd.DataFrame(rows))
    else:
        body = paragraph(
            f"The model has no scenarios ({missing(model, 'scenarios')}), so this is the run of "
            "its own defaults."
        )
    if variables:
        body += doc.figure(
            "scenarios", comparison_figure(runs["scenarios"], variables), "Key variables of every run."
        )
        table = summary(runs["scenarios"], variables).reset_index()
        body += "<details><summary>Start, minimum, maximum and final value of each key variable</summary>"
        body += html_table(table) + "</details>"
    else:
        body += paragraph("The model has no stocks and declares no key variables, so there is nothing to draw.")
    doc.add("scenarios", "Scenarios", body)

    if not runs["policies"]:
        skipped(doc, "policies", "Policies", f"the model declares no policies ({missing(model, 'scenarios')})")
        return
    policy_rows = [{"policy": p.name, "description": p.description} for p in sf.policies.values()]
    body = paragraph("Levers a decision maker controls; each is combined with the scenarios below.")
    body += html_table(pd.DataFrame(policy_rows))
    for base, results in runs["policies"].items():
        body += doc.figure(
            f"policies_{base}",
            comparison_figure(results, variables),
            f"Key variables under each policy, scenario {base}.",
        )
    doc.add("policies", "Policies", body)


def section_diagrams(doc: Document, model: Model, runs: dict[str, Any], settings: ReportSettings) -> None:
    """The stock-and-flow diagram, one figure per view of a Vensim model."""
    from pyloop.plots import view_figure
    from pyloop.engine.vensim_sketch import read_sketch

    views = read_sketch(model.path) if model.path.suffix.lower() == ".mdl" else []
    views = [view for view in views if view.items]  # an empty view has nothing to draw
    if not views:
        return
    body = paragraph(
        "The stock-and-flow diagram, one picture per view of the model. Boxes are stocks, pipes with "
        "valves are flows, clouds are sources and sinks outside the model, grey names "
        "in angle brackets (in dashed boxes for stocks) are variables drawn on another view. "
        "Each picture links to an SVG copy in figures/ that zooms without blurring."
    )
    for view in views:
        stem = "view_" + "_".join(view.title.lower().split())
        body += doc.figure(stem, view_figure(view), f"View: {view.title}.", zoomable=True)
    doc.add("diagram", "Stock-and-flow diagram", body)


def section_calibration(
    doc: Document, model: Model, runs: dict[str, Any], settings: ReportSettings
) -> pd.DataFrame | None:
    """The baseline run against the model's calibration checks."""
    from pyloop.validation.calibration import measure_checks, read_checks

    path = declaration_path(model, "calibration")
    base = next((r for r in runs["scenarios"] if r.scenario == "baseline"), None)
    if not path.is_file() or base is None:
        why = (
            f"the model has no calibration checks ({missing(model, 'calibration')})"
            if not path.is_file()
            else "the checks are measured on the scenario 'baseline', which this report does not run"
        )
        skipped(doc, "calibration", "Calibration", why)
        return None
    table = measure_checks(read_checks(path), base.frame, {**model.defaults, **base.constants})
    shown = table.assign(passed=table["passed"].map({True: "yes", False: "NO"}))
    body = paragraph(
        f"The baseline run against the figures of the seed article and the public record "
        f"({int(table['passed'].sum())} of {len(table)} within tolerance). Sources are rows "
        "of calibration.csv; the error is relative unless the tolerance is in the target's units."
    )
    body += html_table(shown)
    doc.add("calibration", "Calibration", body)
    return table


def section_validity(doc: Document, model: Model, runs: dict[str, Any], settings: ReportSettings) -> pd.DataFrame:
    """The validity tests of :func:`pyloop.validation.validity.validity_tests`."""
    from pyloop.validation.validity import validity_tests

    audits = runs.get("audits", {})
    tests = validity_tests(
        model, runs["scenarios"], runs["scenario_file"], runs["names"],
        ring_errors={name: a.check.ring_error for name, a in audits.items()},
    )
    doc.add(
        "validity",
        "Validity tests",
        paragraph("Tests of the model's structure and behaviour (Sterman 2000, ch. 21; Barlas 1996).") + html_table(tests),
    )
    return tests


def section_reference(doc: Document, model: Model, runs: dict[str, Any], settings: ReportSettings) -> None:
    """Every variable with its units, equation and comment."""
    texts = equation_texts(model.path) if model.path.suffix.lower() == ".mdl" else {}
    rows = [
        {
            "variable": v.name,
            "kind": v.kind,
            "units": v.units or "",
            "equation": texts.get(v.name, ""),
            "comment": v.comment or "",
        }
        for v in model.variables
        if v.kind != "control"
    ]
    body = paragraph(f"Every variable of {model.path.name} with its units, equation and comment ({len(rows)} variables).")
    body += "<details><summary>Show the variable reference</summary>" + html_table(pd.DataFrame(rows)) + "</details>"
    doc.add("reference", "Variable reference", body)


def _versions() -> dict[str, str]:
    """Versions of Python and of the packages the report uses."""
    from pyloop.plots import PLOTTING_LIBRARY

    found = {}
    for package in ("pyloop", "pysd", "pysimlin", "numpy", "pandas", PLOTTING_LIBRARY, "networkx", "SALib", "dask"):
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    found["python"] = sys.version.split()[0]
    return found


def run_manifest(model: Model, settings: ReportSettings, started: _dt.datetime) -> dict[str, Any]:
    """What the report was made from and with; ``started`` is when it began."""
    return {
        "model": model.path.name,
        "model_sha256": hashlib.sha256(model.path.read_bytes()).hexdigest(),
        "scenarios": list(settings.scenarios) or "all",
        "quick": settings.quick,
        "seed": settings.seed,
        "monte_carlo_samples": settings.monte_carlo_samples,
        "started": started.isoformat(timespec="seconds"),
        "finished": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "versions": _versions(),
    }


def section_manifest(doc: Document, manifest: dict[str, Any]) -> None:
    """The run manifest: model, settings, times and versions."""
    rows = [{"item": k, "value": v} for k, v in manifest.items() if k != "versions"]
    rows += [{"item": f"version of {k}", "value": v} for k, v in manifest["versions"].items()]
    doc.add("manifest", "Run manifest", html_table(pd.DataFrame(rows)))


# ------------------------------------------------------------ analyses
def reinforcing_share(analysis, start: float, end: float) -> float:
    """Share of the steps in [start, end] in which reinforcing loops dominate
    the cycle partition holding most of the reported loops."""
    shares = analysis.reinforcing_share(start, end)
    if not shares:
        return float("nan")
    held = [k.partition for k in analysis.loops]
    return shares[max(shares, key=held.count)]


def section_ledger(doc: Document, model: Model, runs: dict[str, Any], settings: ReportSettings) -> None:
    """The money ledger: checks, who paid, money flow diagram, origin shares."""
    from pyloop.analysis.ledger import audit_result, load_ledger
    from pyloop.plots import ledger_figure

    if not declaration_path(model, "ledger").is_file():
        skipped(
            doc, "ledger", "Who paid: the money ledger",
            f"the model has no ledger declaration ({missing(model, 'ledger')}) saying which "
            "stocks hold money and who pays whom",
        )
        return
    ledger = load_ledger(model)
    if ledger.questions is None:
        skipped(
            doc, "ledger", "Who paid: the money ledger",
            f"{ledger.where()} names no payment to trace (no [questions] table)",
        )
        return
    body = paragraph(
        "Every cash stock is a pool whose money is labelled by where it entered the ring; "
        "each payment carries its payer's current mix. The shares answer: of the money the "
        f"{ledger.questions.payment} moved by a given year, where did it come from?"
    )
    audits = {}
    for scenario in focus_scenarios(runs, settings):
        scenario_run = next(r for r in runs["scenarios"] if r.scenario == scenario)
        result = audit_result(scenario_run, ledger)
        audits[scenario] = result
        end = float(result.result.frame.index[-1])
        years = [y for y in settings.focus.ledger_years if y <= end] or [end]
        table = result.who_paid(years)
        body += f"<h3>{scenario}</h3>"
        body += paragraph(
            f"Stock-flow checks passed: each cash stock follows its declared flows (largest error "
            f"{max(result.check.stock_errors.values()):.1g} B$); money in the ring changes only by "
            f"the flows across its boundary (largest error {result.check.ring_error:.1g} B$)."
        )
        body += html_table(ledger_display(table))
        body += doc.figure(
            f"ledger_{scenario}",
            ledger_figure(**result.figure_data(years[-1])),
            f"Money moved between sectors and the origin of the traced payments, scenario {scenario}.",
        )
    runs["audits"] = audits
    doc.add("ledger", "Who paid: the money ledger", body)


def section_sensitivity(doc: Document, model: Model, runs: dict[str, Any], settings: ReportSettings) -> None:
    """Monte Carlo fan charts, sensitivity indices and the scenario-discovery box."""
    from pyloop.sensitivity.study import sensitivity_study

    if not declaration_path(model, "uncertainty").is_file():
        skipped(
            doc, "sensitivity", "Uncertainty and sensitivity",
            f"the model has no uncertainty file ({missing(model, 'uncertainty')}) saying which "
            "constants are uncertain and which outcomes to measure; 'pyloop sensitivity' samples "
            "the constants' declared ranges without one",
        )
        return
    scenarios = focus_scenarios(runs, settings) or [None]
    folder = doc.folder / "sensitivity"
    mc = sensitivity_study(
        model, "mc", settings.monte_carlo_samples, settings.seed, scenarios=scenarios, out=folder,
        progress="monte carlo", keep_series=False,
    )
    method, base = ("morris", 10) if settings.quick else ("sobol", 256)
    indices = sensitivity_study(model, method, base, settings.seed, scenarios=scenarios[:1], out=folder,
                                progress=method, keep_series=False)
    sampled = "; ".join(
        f"{label} samples {len(result.spec.names)} constants"
        + (f", fixing {', '.join(result.base)} at the scenario's values" if result.base else "")
        for label, result in mc.results.items()
    )
    body = paragraph(
        f"{settings.monte_carlo_samples} Monte Carlo runs per scenario over the uncertain constants' "
        f"ranges (seed {settings.seed}): {sampled}. A constant the uncertainty file declares for some "
        "scenarios only (such as the shock that defines a scenario) is sampled in those alone. "
        f"{method.title()} indices on the scalar outcomes; PRIM finds the "
        f"box of assumptions {settings.focus.discovery}, keeping only the restrictions that matter. "
        "The samples, outcomes and percentile bands are in the sensitivity/ folder beside this report."
    )
    # the figures the studies wrote, by file name
    written = {p.name: p for p in (*mc.files, *indices.files) if p.suffix == ".png"}
    if "fan_chart.png" in written:
        body += doc.image(written["fan_chart.png"], "sensitivity_fan_chart",
                          "Percentile bands (5-25-50-75-95 %) of the banded outputs, one panel per "
                          "scenario and output; the dashed line is the scenario's deterministic run "
                          "(every constant at its value). It need not follow the median: the model is "
                          "not linear, so the run at the central assumptions is not the central run.")
    for label in indices.indices:
        body += doc.image(written[f"{label}_{method}.png"], f"sensitivity_{method}_{label}",
                          f"{method.title()} indices, {label}"
                          + (": parameters ranked by total index ST, the ten largest per outcome "
                             "(all in the CSV); a negative first-order estimate is sampling noise, drawn "
                             "at 0 with its interval." if method == "sobol" else "."))
    for label, box in mc.boxes.items():
        body += doc.image(written[f"{label}_prim.png"], f"sensitivity_prim_{label}",
                          f"PRIM box, {label}: {box.condition}.")
        limits = box.limits.reset_index()
        body += paragraph(f"{label}: coverage {box.coverage:.0%}, density {box.density:.0%} ({box.engine} PRIM; "
                          "only restrictions that matter: each raises the density and has a quasi-p "
                          "value below 0.05).")
        body += html_table(limits, floatfmt="{:,.4g}")
    runs["sensitivity"] = {"mc": mc, "indices": indices}
    doc.add("sensitivity", "Uncertainty and sensitivity", body)


def default_sections() -> list[Section]:
    """The analysis sections of the full report, in order (after the scenarios)."""
    from pyloop.report.history_section import section_history

    return [section_loops, section_ledger, section_sensitivity, section_history]

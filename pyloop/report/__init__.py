"""Assemble the report: one self-contained HTML file with its figures.

:func:`build_report` runs the model's scenarios and policies and the
analyses, and writes ``report.html`` (every figure embedded) with the figures
also saved as PNG in ``figures/`` beside it. It builds the report in a
hidden staging folder inside the output folder and moves its files into
place only when everything succeeded (see :mod:`pyloop.files`), so an
interrupted or failed report never leaves a half-written one and leaves the
folder as it was. An existing output folder is written into only if it is
empty or holds an earlier report (it carries the marker file
``.pyloop-report``, which lists the files that report wrote); then only the
report's own files are replaced, and the user's other files are kept.
"""

from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import html
import io
import json
import re
import shutil
import sys
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import pandas as pd

from pyloop.declarations.paths import OPTIONS, declaration_path, has_declarations
from pyloop.errors import PyloopError
from pyloop.files import STAGING_PREFIX, Staging, cannot_write
from pyloop.engine.pysd_model import Model, load_model
from pyloop.runner import RunResult, key_variables, run, variable_columns
from pyloop.declarations.scenarios import load_scenarios

__all__ = ["MARKER", "ReportSettings", "build_report", "default_sections", "equation_texts"]

#: File that marks a folder as a pyloop report (holds the run manifest).
MARKER = ".pyloop-report"


@dataclass(frozen=True)
class ReportSettings:
    """What a report covers.

    Attributes:
        scenarios: scenarios to report (default every scenario of the model).
        quick: smaller sensitivity study and fewer policy runs.
        seed: seed of every random sample.
        samples: Monte Carlo samples (default 1000, quick 150).
    """

    scenarios: tuple[str, ...] = ()
    quick: bool = False
    seed: int = 20250910
    samples: int | None = None

    @property
    def monte_carlo_samples(self) -> int:
        return self.samples or (150 if self.quick else 1000)


@dataclass
class _Document:
    """Sections of the HTML document and the figures they embed."""

    folder: Path
    sections: list[tuple[str, str, str]] = field(default_factory=list)
    figures: list[str] = field(default_factory=list)

    def figure(self, name: str, fig: Any, caption: str) -> str:
        """Save a matplotlib figure as PNG and return its embedded HTML."""
        from pyloop.plots import save_figure

        target = self.folder / "figures" / f"{name}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        save_figure(fig, target, dpi=110)
        self.figures.append(target.name)
        data = base64.b64encode(target.read_bytes()).decode("ascii")
        return (
            f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        )

    def image(self, source: Path, name: str, caption: str) -> str:
        """Embed a PNG file already written (copied into ``figures/``)."""
        target = self.folder / "figures" / f"{name}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.resolve() != target.resolve():
            shutil.copyfile(source, target)
        self.figures.append(target.name)
        data = base64.b64encode(target.read_bytes()).decode("ascii")
        return (
            f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        )

    def add(self, anchor: str, title: str, body: str, first: bool = False) -> None:
        if first:
            self.sections.insert(0, (anchor, title, body))
        else:
            self.sections.append((anchor, title, body))


def _table(frame: pd.DataFrame, floatfmt: str = "{:,.4g}", index: bool = False) -> str:
    return frame.to_html(
        index=index,
        border=0,
        classes="data",
        float_format=lambda v: floatfmt.format(v),
        na_rep="",
        escape=True,
    )


def _p(text: str) -> str:
    return f"<p>{html.escape(text)}</p>"


def _missing(model: Model, kind: str) -> str:
    """Where a declaration file of ``kind`` would be, for a sentence."""
    return f"no {declaration_path(model, kind).name} beside it, and no {OPTIONS[kind]} FILE given"


def _skipped(doc: _Document, anchor: str, title: str, why: str) -> None:
    """A section that does not apply to this model, with the reason."""
    doc.add(anchor, title, _p(f"Not part of this report: {why}."))


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


# ------------------------------------------------------------------ runs
def _runs(model: Model, settings: ReportSettings, progress: Callable[[str], None]) -> dict[str, Any]:
    sf = load_scenarios(model)
    names = list(settings.scenarios) or list(sf.scenarios)
    for name in names:
        sf.scenario(name)  # unknown names fail before any run
    progress("running scenarios")
    # without scenarios, the model's own defaults are its only run
    scenarios = [run(model, name, scenarios=sf) for name in names] if names else [run(model, scenarios=sf)]
    policy_bases = [n for n in ("baseline", "music_stops") if n in names] or names[:1]
    if settings.quick:
        policy_bases = policy_bases[:1]
    progress("running policies")
    policies = {
        base: [run(model, base, scenarios=sf)] + [run(model, base, p, scenarios=sf) for p in sf.policies]
        for base in policy_bases
        if sf.policies
    }
    return {"scenario_file": sf, "scenarios": scenarios, "policies": policies, "names": names}


# -------------------------------------------------------------- sections
def _section_scenarios(doc: _Document, model: Model, runs: dict[str, Any]) -> None:
    from pyloop.plots import comparison_figure
    from pyloop.runner import summary

    sf = runs["scenario_file"]
    variables = key_variables(model, sf)
    rows = [
        {"scenario": s.name, "extends": s.extends or "", "description": s.description}
        for s in sf.scenarios.values()
        if s.name in runs["names"]
    ]
    if rows:
        body = _p("Outside conditions the model is run under; each sets constants only.")
        body += _table(pd.DataFrame(rows))
    else:
        body = _p(
            f"The model has no scenarios ({_missing(model, 'scenarios')}), so this is the run of "
            "its own defaults."
        )
    if variables:
        body += doc.figure(
            "scenarios", comparison_figure(runs["scenarios"], variables), "Key variables of every run."
        )
        table = summary(runs["scenarios"], variables).reset_index()
        body += "<details><summary>Start, minimum, maximum and final value of each key variable</summary>"
        body += _table(table) + "</details>"
    else:
        body += _p("The model has no stocks and declares no key variables, so there is nothing to draw.")
    doc.add("scenarios", "Scenarios", body)

    if not runs["policies"]:
        _skipped(doc, "policies", "Policies", f"the model declares no policies ({_missing(model, 'scenarios')})")
        return
    policy_rows = [{"policy": p.name, "description": p.description} for p in sf.policies.values()]
    body = _p("Levers a decision maker controls; each is combined with the scenarios below.")
    body += _table(pd.DataFrame(policy_rows))
    for base, results in runs["policies"].items():
        body += doc.figure(
            f"policies_{base}",
            comparison_figure(results, variables),
            f"Key variables under each policy, scenario {base}.",
        )
    doc.add("policies", "Policies", body)


def _section_diagrams(doc: _Document, model: Model) -> None:
    from pyloop.plots import view_figure
    from pyloop.engine.vensim_sketch import read_sketch

    views = read_sketch(model.path) if model.path.suffix.lower() == ".mdl" else []
    views = [view for view in views if view.items]  # an empty view has nothing to draw
    if not views:
        return
    body = _p(
        "The stock-and-flow diagram, one picture per view of the model. Boxes are stocks, pipes with "
        "valves are flows, clouds are sources and sinks outside the model, grey names "
        "in angle brackets are variables drawn on another view."
    )
    for view in views:
        stem = "view_" + "_".join(view.title.lower().split())
        body += doc.figure(stem, view_figure(view), f"View: {view.title}.")
    doc.add("diagram", "Stock-and-flow diagram", body)


def _section_calibration(doc: _Document, model: Model, runs: dict[str, Any]) -> pd.DataFrame | None:
    from pyloop.validation.calibration import measure_checks, read_checks

    path = declaration_path(model, "calibration")
    base = next((r for r in runs["scenarios"] if r.scenario == "baseline"), None)
    if not path.is_file() or base is None:
        why = (
            f"the model has no calibration checks ({_missing(model, 'calibration')})"
            if not path.is_file()
            else "the checks are measured on the scenario 'baseline', which this report does not run"
        )
        _skipped(doc, "calibration", "Calibration", why)
        return None
    table = measure_checks(read_checks(path), base.frame, {**model.defaults, **base.constants})
    shown = table.assign(passed=table["passed"].map({True: "yes", False: "NO"}))
    body = _p(
        f"The baseline run against the figures of the seed article and the public record "
        f"({int(table['passed'].sum())} of {len(table)} within tolerance). Sources are rows "
        "of calibration.csv; the error is relative unless the tolerance is in the target's units."
    )
    body += _table(shown)
    doc.add("calibration", "Calibration", body)
    return table


def _section_validity(doc: _Document, model: Model, runs: dict[str, Any]) -> pd.DataFrame:
    from pyloop.validation.quality import check_model
    from pyloop.engine.simlin import run as simlin_run
    from pyloop.engine.simlin import simlin_ident

    rows = []
    # a model without any of our declaration files is judged by the generic profile only
    profile = "house" if has_declarations(model) else "generic"
    try:
        findings = check_model(model, profile=profile)
        errors = [f for f in findings if f.severity == "error"]
        quality = {
            "result": "pass" if not errors else f"{len(errors)} error(s)",
            "detail": "; ".join(f"{f.code} {f.variable or ''} {f.message}" for f in findings[:5]) or "no finding",
        }
    except PyloopError as exc:  # e.g. a model the unit checker cannot read: say so, do not fail the report
        quality = {"result": "not run", "detail": str(exc)}
    rows.append(
        {
            "test": f"Model quality (pyloop check --profile {profile}: units by Simlin"
            + (", documentation, buried numbers, diagram" if profile == "house" else "")
            + ", loops, integration error)",
            **quality,
        }
    )
    names = {simlin_ident(v.name): v.name for v in model.variables}
    worst = 0.0
    try:
        other_times = []  # runs for which the engines save different times
        for result in runs["scenarios"]:
            other = simlin_run(model.path, result.constants, names)
            times = result.frame.index.intersection(other.index)
            if len(times) < len(result.frame.index) or len(times) < len(other.index):
                other_times.append(result.name)
            for column in result.frame.columns:
                if column in other.columns and len(times):
                    a = result.frame.loc[times, column].to_numpy(dtype=float)
                    scale = max(float(np.max(np.abs(a))), 1e-12)
                    b = other.loc[times, column].to_numpy(dtype=float)
                    worst = max(worst, float(np.max(np.abs(a - b))) / scale)
        cross = {
            "result": "pass" if worst < 1e-6 and not other_times else "FAIL",
            "detail": f"largest difference {worst:.1e} of a variable's range (limit 1e-6)"
            + (f"; the engines save different times in {', '.join(other_times)}" if other_times else ""),
        }
    except PyloopError as exc:  # a model Simlin cannot read or run: say so, do not fail the report
        cross = {"result": "not run", "detail": str(exc)}
    rows.append({"test": "Cross-engine: PySD and Simlin on the same model file, every scenario", **cross})
    stocks = [s for s in model.stocks if (model.variable(s).range or (None, None))[0] == 0]

    def lowest(frame: pd.DataFrame, stock: str) -> float:
        """Smallest value of a stock (of any element, if subscripted)."""
        return float(frame[variable_columns(frame.columns, stock)].min().min())

    negative = [
        (r.name, s, lowest(r.frame, s))
        for r in runs["scenarios"]
        for s in stocks
        if lowest(r.frame, s) < -1e-9
    ]
    rows.append(
        {
            "test": "No stock declared non-negative ([0,?]) falls below zero in any scenario",
            "result": "pass" if not negative else "FAIL",
            "detail": "; ".join(f"{n}: {s} {v:.3g}" for n, s, v in negative[:5]) or f"{len(stocks)} stocks checked",
        }
    )
    from pyloop.validation.calibration import read_extremes

    checks = declaration_path(model, "calibration")
    extremes = read_extremes(checks) if checks.is_file() else {}
    if extremes:
        failures = []
        for case, constants in extremes.items():
            for name in runs["names"]:
                try:
                    result = run(model, name, params=constants, scenarios=runs["scenario_file"])
                except PyloopError as exc:
                    failures.append(f"{case}, {name}: {exc}")
                    continue
                low = [s for s in stocks if lowest(result.frame, s) < -1e-9]
                if low:
                    failures.append(f"{case}, {name}: {', '.join(low)} below zero")
        rows.append(
            {
                "test": "Extreme conditions: " + "; ".join(extremes),
                "result": "pass" if not failures else "FAIL",
                "detail": "; ".join(failures[:5]) or f"{len(extremes) * len(runs['names'])} runs without NaN, error or negative stock",
            }
        )
    audits = runs.get("audits", {})
    if audits:
        worst = max(a.check.ring_error for a in audits.values())
        rows.append(
            {
                "test": "Conservation: money in the ring changes only by the flows across its boundary",
                "result": "pass",
                "detail": f"largest error {worst:.1g} B$ in {', '.join(audits)} (tolerance 1e-6 B$)",
            }
        )
    table = pd.DataFrame(rows)
    doc.add(
        "validity",
        "Validity tests",
        _p("Tests of the model's structure and behaviour (Sterman 2000, ch. 21; Barlas 1996).") + _table(table),
    )
    return table


def _section_reference(doc: _Document, model: Model) -> None:
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
    body = _p(f"Every variable of {model.path.name} with its units, equation and comment ({len(rows)} variables).")
    body += "<details><summary>Show the variable reference</summary>" + _table(pd.DataFrame(rows)) + "</details>"
    doc.add("reference", "Variable reference", body)


def _versions() -> dict[str, str]:
    found = {}
    for package in ("pyloop", "pysd", "pysimlin", "numpy", "pandas", "matplotlib", "networkx", "SALib", "dask"):
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    found["python"] = sys.version.split()[0]
    return found


def _manifest(model: Model, settings: ReportSettings, started: _dt.datetime) -> dict[str, Any]:
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


def _section_manifest(doc: _Document, manifest: dict[str, Any]) -> None:
    rows = [{"item": k, "value": v} for k, v in manifest.items() if k != "versions"]
    rows += [{"item": f"version of {k}", "value": v} for k, v in manifest["versions"].items()]
    doc.add("manifest", "Run manifest", _table(pd.DataFrame(rows)))


# ---------------------------------------------------------------- output
_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;max-width:1100px;margin:2em auto;
padding:0 1em;color:#1b1b1b;line-height:1.45}
h1{font-size:1.8em;margin-bottom:.2em}h2{border-bottom:2px solid #1f4e9c;padding-bottom:.2em;margin-top:2em}
nav ol{columns:2}figure{margin:1em 0}img{max-width:100%;height:auto;border:1px solid #ddd}
figcaption{font-size:.9em;color:#555}table.data{border-collapse:collapse;font-size:.85em;margin:.6em 0;width:100%}
table.data th,table.data td{border-bottom:1px solid #ddd;padding:.25em .5em;text-align:left;vertical-align:top}
table.data th{background:#f2f5fa}.answer{background:#f6f9ff;border-left:4px solid #1f4e9c;padding:.6em 1em;margin:1em 0}
.how{font-size:.9em;color:#555}details{margin:.6em 0}
@media print{nav{display:none}h2{page-break-before:always}details{display:block}img{border:none}}
"""


def _render(doc: _Document, title: str, subtitle: str) -> str:
    toc = "".join(f'<li><a href="#{a}">{html.escape(t)}</a></li>' for a, t, _ in doc.sections)
    body = "".join(f'<section id="{a}"><h2>{html.escape(t)}</h2>{b}</section>' for a, t, b in doc.sections)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>"
        f"<h1>{html.escape(title)}</h1><p class=\"how\">{html.escape(subtitle)}</p>"
        f"<nav><h2>Contents</h2><ol>{toc}</ol></nav>{body}</body></html>\n"
    )


def _check_out(out: Path) -> list[str]:
    """Refuse an output folder that is not new, empty (but for pyloop's own
    staging folders) or an earlier report; return the files that earlier
    report wrote (relative paths, from its marker).

    Cheap: called before anything is run.
    """
    if out.exists() and not out.is_dir():
        raise PyloopError(f"'{out}' is a file, not a folder; choose a new or empty folder with --out")
    for parent in out.parents:
        if parent.exists():
            if not parent.is_dir():
                raise PyloopError(f"cannot write into '{out}': '{parent}' is a file, not a folder; choose another --out")
            break
    if not out.is_dir():
        return []
    try:
        own = [p for p in out.iterdir() if not p.name.startswith(STAGING_PREFIX)]
    except OSError as exc:
        raise cannot_write(out, exc) from exc
    if not own:
        return []
    if not (out / MARKER).is_file():
        raise PyloopError(
            f"'{out}' exists and is not an earlier pyloop report; choose an empty or new folder with --out"
        )
    try:
        earlier = json.loads((out / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    files = earlier.get("files", []) if isinstance(earlier, dict) else []
    # only plain relative paths inside the folder: the marker is a file like any other
    return [f for f in files if isinstance(f, str) and not Path(f).is_absolute() and ".." not in Path(f).parts]


Section = Callable[[_Document, Model, dict[str, Any], ReportSettings], Any]


def build_report(
    out: str | Path,
    model: Model | str | Path,
    settings: ReportSettings = ReportSettings(),
    progress: Callable[[str], None] | None = None,
    extra_sections: Iterable[Section] = (),
) -> Path:
    """Write the report into the folder ``out``.

    Args:
        out: output folder; must be new, empty, or an earlier report.
        model: the model (or its file).
        settings: what to cover.
        progress: called with a short message before each stage.
        extra_sections: further section builders, called in order after the
            scenario sections.

    Returns:
        Path of ``report.html``.
    """
    out = Path(out)
    earlier = _check_out(out)
    model = model if isinstance(model, Model) else load_model(model)
    say = progress or (lambda message: None)
    started = _dt.datetime.now(_dt.timezone.utc)
    with Staging(out) as staging:
        try:
            doc = _Document(staging.folder)
            runs = _runs(model, settings, say)
            say("drawing scenarios and policies")
            _section_scenarios(doc, model, runs)
            for section in extra_sections:
                say((section.__doc__ or section.__name__).strip().splitlines()[0].rstrip(".").lower())
                section(doc, model, runs, settings)
            say("drawing the diagram")
            _section_diagrams(doc, model)
            say("measuring calibration")
            _section_calibration(doc, model, runs)
            say("running validity tests")
            _section_validity(doc, model, runs)
            _section_reference(doc, model)
            manifest = _manifest(model, settings, started)
            _section_manifest(doc, manifest)
            title = f"{runs['scenario_file'].title or model.name}: model report"
            subtitle = f"Model {model.path.name}, sha256 {manifest['model_sha256'][:12]}; made {manifest['finished']}."
            (doc.folder / "report.html").write_text(_render(doc, title, subtitle), encoding="utf-8")
            files = [p.as_posix() for p in staging.staged()] + [MARKER]
            (doc.folder / MARKER).write_text(json.dumps({**manifest, "files": files}, indent=2), encoding="utf-8")
        except OSError as exc:
            target = staging.destination(exc.filename) if exc.filename else out
            if target is None:
                raise  # not an output: an input that cannot be read
            raise cannot_write(target, exc) from exc
        say("publishing")
        staging.publish(remove=earlier)
    return out / "report.html"




# ------------------------------------------------------------ analyses
#: Years at which the report states who paid.
WHO_PAID_YEARS = (2027.0, 2030.0, 2035.0)
#: Outputs compared in knockout runs.
KNOCKOUT_OUTPUTS = ("Cloud Market Value", "Compute Contract Backlog", "AI Lab Cash", "Operational Capacity")
#: The window of the boom after the announcements (Year).
BOOM = (2025.7, 2027.5)


def _phase_rows(phases, start: float, end: float) -> list[dict[str, Any]]:
    return [
        {"from": p.start, "to": p.end, "polarity": p.polarity, "leading loops": ", ".join(p.loops[:4])}
        for p in phases
        if p.end > start and p.start < end
    ]


def _reinforcing_share(analysis, start: float, end: float) -> float:
    """Share of the steps in [start, end] in which reinforcing loops dominate
    the cycle partition holding most of the reported loops."""
    shares = analysis.reinforcing_share(start, end)
    if not shares:
        return float("nan")
    held = [k.partition for k in analysis.loops]
    return shares[max(shares, key=held.count)]


def section_loops(doc: _Document, model: Model, runs: dict[str, Any], settings: ReportSettings) -> None:
    """Loop dominance over time per scenario, and the knockout comparisons."""
    from pyloop.analysis.loops import knockouts, load_catalogue, score_run
    from pyloop.plots import knockout_figure, loop_dominance_figure

    catalogue = load_catalogue(model)
    if not catalogue:
        _skipped(
            doc, "loops", "Feedback loops",
            f"the model has no loop catalogue ({_missing(model, 'loops')}) naming the loops to follow "
            "and switch off; 'pyloop loops' lists every loop of a run without one",
        )
        return
    body = _p(
        "Loops That Matter (Schoenberg, Davidsen and Eberlein 2020; Schoenberg, Hayward and "
        "Eberlein 2023): each loop's score is the product of its link scores, the share of a "
        "variable's change that one input explains. Relative scores are shares of all loops "
        "scored; reinforcing loops are drawn above the axis, balancing below."
    )
    body += '<p class="how">How to read: where the area above the axis is larger, reinforcing loops '
    body += "drive the change; where the area below is larger, balancing loops restrain it.</p>"
    analyses = {}
    for result in runs["scenarios"]:
        if settings.quick and result.scenario not in ("baseline", "music_stops"):
            continue
        analysis = score_run(model, result)
        analyses[result.scenario] = analysis
        table = analysis.table()
        named = [c.id for c in catalogue if c.id in table.index]
        strongest = table.drop(index=named).sort_values("mean |relative|", ascending=False).head(8)
        shown = pd.concat([table.loc[named], strongest])
        body += f"<h3>{html.escape(str(result.scenario))}</h3>"
        body += doc.figure(
            f"loops_{result.scenario}",
            loop_dominance_figure(analysis),
            f"Relative loop scores and dominance phases, scenario {result.scenario} "
            f"({analysis.mode} mode, {analysis.total_loops} loops scored).",
        )
        body += "<details><summary>Named loops, the strongest other loops, and the polarity phases</summary>"
        body += _table(
            shown[["name", "polarity", "confidence", "structural", "mean |relative|", "variables"]].reset_index()
        )
        body += _table(pd.DataFrame(_phase_rows(analysis.polarity_phases, -np.inf, np.inf)))
        body += "</details>"
    outputs = [o for o in KNOCKOUT_OUTPUTS if model.resolve_name(o)]
    knocked = {}
    for scenario in ("baseline", "music_stops"):
        if scenario not in runs["names"] or not outputs:
            continue
        table, kruns = knockouts(model, scenario, outputs=outputs)
        knocked[scenario] = table
        body += f"<h3>Knockouts, {scenario}</h3>"
        body += _p("Each named loop switched off in turn (its switch constant set to 0).")
        body += doc.figure(
            f"knockouts_{scenario}",
            knockout_figure(kruns, outputs, catalogue=catalogue),
            f"Key outputs with each named loop knocked out, scenario {scenario}.",
        )
        shown = table[["base peak", "knockout peak", "peak change %", "final change %"]].reset_index()
        body += "<details><summary>Peak and final values of each knockout</summary>" + _table(shown) + "</details>"
    runs["loop_analyses"] = analyses
    runs["knockouts"] = knocked
    doc.add("loops", "Feedback loops: dominance and knockouts", body)


def section_ledger(doc: _Document, model: Model, runs: dict[str, Any], settings: ReportSettings) -> None:
    """The money ledger: checks, who paid, money flow diagram, origin shares."""
    from pyloop.analysis.ledger import audit_result, load_ledger
    from pyloop.plots import ledger_figure

    if not declaration_path(model, "ledger").is_file():
        _skipped(
            doc, "ledger", "Who paid: the money ledger",
            f"the model has no ledger declaration ({_missing(model, 'ledger')}) saying which "
            "stocks hold money and who pays whom",
        )
        return
    ledger = load_ledger(model)
    if ledger.questions is None:
        _skipped(
            doc, "ledger", "Who paid: the money ledger",
            f"{ledger.where()} names no payment to trace (no [questions] table)",
        )
        return
    body = _p(
        "Every cash stock is a pool whose money is labelled by where it entered the ring; "
        "each payment carries its payer's current mix. The shares answer: of the money the "
        f"{ledger.questions.payment} moved by a given year, where did it come from?"
    )
    audits = {}
    for scenario in ("baseline", "music_stops"):
        if scenario not in runs["names"]:
            continue
        scenario_run = next(r for r in runs["scenarios"] if r.scenario == scenario)
        result = audit_result(scenario_run, ledger)
        audits[scenario] = result
        years = [y for y in WHO_PAID_YEARS if y <= result.result.frame.index[-1]]
        table = result.who_paid(years)
        body += f"<h3>{scenario}</h3>"
        body += _p(
            f"Stock-flow checks passed: each cash stock follows its declared flows (largest error "
            f"{max(result.check.stock_errors.values()):.1g} B$); money in the ring changes only by "
            f"the flows across its boundary (largest error {result.check.ring_error:.1g} B$)."
        )
        body += _table(table.reset_index(), floatfmt="{:,.3g}")
        body += doc.figure(
            f"ledger_{scenario}",
            ledger_figure(**result.figure_data(years[-1])),
            f"Money moved between sectors and the origin of the traced payments, scenario {scenario}.",
        )
    runs["audits"] = audits
    doc.add("ledger", "Who paid: the money ledger", body)


def section_sensitivity(doc: _Document, model: Model, runs: dict[str, Any], settings: ReportSettings) -> None:
    """Monte Carlo fan charts, sensitivity indices and the scenario-discovery box."""
    from pyloop.sensitivity.study import sensitivity_study

    if not declaration_path(model, "uncertainty").is_file():
        _skipped(
            doc, "sensitivity", "Uncertainty and sensitivity",
            f"the model has no uncertainty file ({_missing(model, 'uncertainty')}) saying which "
            "constants are uncertain and which outcomes to measure; 'pyloop sensitivity' samples "
            "the constants' declared ranges without one",
        )
        return
    scenarios = [s for s in ("baseline", "music_stops") if s in runs["names"]] or [None]
    folder = doc.folder / "sensitivity"
    mc = sensitivity_study(
        model, "mc", settings.monte_carlo_samples, settings.seed, scenarios=scenarios, out=folder, progress=False
    )
    method, base = ("morris", 10) if settings.quick else ("sobol", 256)
    indices = sensitivity_study(model, method, base, settings.seed, scenarios=scenarios[:1], out=folder, progress=False)
    body = _p(
        f"{settings.monte_carlo_samples} Monte Carlo runs per scenario over the uncertain constants' "
        f"ranges (seed {settings.seed}); {method.title()} indices on the scalar outcomes; PRIM finds the "
        "box of assumptions in which the music stops early. The runs and outcomes are in "
        "the sensitivity/ folder beside this report."
    )
    if (folder / "fan_chart.png").is_file():
        body += doc.image(folder / "fan_chart.png", "sensitivity_fan_chart", "Percentile bands (5-25-50-75-95 %) of the banded outputs.")
    for label, table in indices.indices.items():
        body += doc.image(folder / f"{label}_{method}.png", f"sensitivity_{method}_{label}", f"{method.title()} indices, {label}.")
    stops = {}
    for label, result in mc.results.items():
        if "Music Stops Time" in result.outcomes.columns:
            stops[label] = float((result.outcomes["Music Stops Time"] < 2030).mean())
    for label, box in mc.boxes.items():
        body += doc.image(folder / f"{label}_prim.png", f"sensitivity_prim_{label}", f"PRIM box, {label}: {box.condition}.")
        limits = box.limits.reset_index()
        body += _p(f"{label}: coverage {box.coverage:.0%}, density {box.density:.0%} ({box.engine} PRIM).")
        body += _table(limits, floatfmt="{:,.4g}")
    runs["sensitivity"] = {"mc": mc, "indices": indices, "stops_before_2030": stops}
    doc.add("sensitivity", "Uncertainty and sensitivity", body)


def summary_numbers(runs: dict[str, Any]) -> dict[str, Any]:
    """The numbers the summary states, from the analyses' own results."""
    numbers: dict[str, Any] = {}
    audits = runs.get("audits", {})
    if "baseline" in audits:
        row = audits["baseline"].who_paid([2030.0]).iloc[0]
        numbers["who_paid_2030"] = {k: float(v) for k, v in row.items()}
    analyses = runs.get("loop_analyses", {})
    if "baseline" in analyses:
        numbers["boom_reinforcing_share"] = _reinforcing_share(analyses["baseline"], *BOOM)
    if "music_stops" in analyses:
        numbers["collapse_reinforcing_share"] = _reinforcing_share(analyses["music_stops"], 2027.5, 2030.0)
    for result in runs["scenarios"]:
        if "Contract Cancellations" not in result.frame.columns:
            continue
        hits = result.frame.index[result.frame["Contract Cancellations"].to_numpy() > 0]
        numbers.setdefault("first_cancellation", {})[result.name] = float(hits[0]) if len(hits) else None
    sensitivity = runs.get("sensitivity")
    if sensitivity:
        numbers["stops_before_2030"] = sensitivity["stops_before_2030"]
        numbers["prim"] = {
            label: {"condition": box.condition, "coverage": box.coverage, "density": box.density,
                    "limits": {k: [float(v["low"]), float(v["high"])] for k, v in box.limits.iterrows()}}
            for label, box in sensitivity["mc"].boxes.items()
        }
    return numbers


def _pct(x: float) -> str:
    return f"{100 * x:.0f} %"


def section_summary(doc: _Document, model: Model, runs: dict[str, Any], settings: ReportSettings) -> None:
    """The three questions answered in numbers, placed first in the report."""
    import json

    numbers = summary_numbers(runs)
    (doc.folder / "summary.json").write_text(json.dumps(numbers, indent=2), encoding="utf-8")
    body = ""
    paid = numbers.get("who_paid_2030")
    if paid:
        payment = next((k for k in paid if k.endswith("(B$)")), None)
        body += '<div class="answer"><h3>Who actually pays?</h3>'
        body += _p(
            f"Of the {paid[payment]:,.0f} B$ the AI Lab paid the Cloud Provider from mid-2025 to 2030 "
            f"in the baseline, {_pct(paid.get('Equity Investors', 0))} came from equity investors, "
            f"{_pct(paid.get('End Users', 0))} from end users, {_pct(paid.get('Lenders', 0))} from lenders "
            f"through the ring, {_pct(paid.get('Other Customers', 0))} from the firms' other customers and "
            f"{_pct(paid.get('Opening cash', 0))} from the firms' opening cash. "
            f"{_pct(paid.get('via Chip Maker Investment', 0))} of it had passed through the Chip Maker's "
            f"investment; {_pct(paid.get('round-trip ratio', 0))} of the Chip Maker's GPU sales to the Cloud "
            f"Provider was its own investment coming back. Commitments announced were "
            f"{paid.get('commitments / cash', float('nan')):.2f} times the cash actually moved between the firms."
        )
        body += '<p class="how">How to read: each dollar is traced back to where it entered the ring, '
        body += "with every firm's cash treated as a well-mixed pool.</p></div>"
    if "boom_reinforcing_share" in numbers:
        body += '<div class="answer"><h3>Which loops drive the boom, which restrain it?</h3>'
        text = (
            f"In the baseline, reinforcing loops dominate {_pct(numbers['boom_reinforcing_share'])} of the "
            f"steps from {BOOM[0]:g} to {BOOM[1]:g}"
        )
        if "collapse_reinforcing_share" in numbers:
            text += (
                f"; when the music stops, reinforcing loops dominate "
                f"{_pct(numbers['collapse_reinforcing_share'])} of the fall from 2027.5 to 2030"
            )
        text += "."
        if numbers["boom_reinforcing_share"] < 0.5:
            text += (
                " Balancing loops lead because the ring is delivering commitments already signed while "
                "cash, construction and perceptions adjust within months; the reinforcing loops amplify "
                "(switching them off shrinks the announcement jumps and the boom)."
            )
        body += _p(text + " The loop section shows which loops lead each phase and what knocking each out changes.")
        body += '<p class="how">How to read: a share above one half means the self-reinforcing loops, '
        body += "not the balancing ones, set the direction of change.</p></div>"
    first = numbers.get("first_cancellation", {})
    if first:
        body += '<div class="answer"><h3>When does the music stop?</h3>'
        stopped = {k: v for k, v in first.items() if v is not None}
        text = "The first contract cancellation comes " + (
            "; ".join(f"in {k} at {v:.2f}" for k, v in stopped.items()) if stopped else "in no scenario"
        )
        never = [k for k, v in first.items() if v is None]
        if never:
            text += f"; never in {', '.join(never)}"
        text += "."
        stops = numbers.get("stops_before_2030", {})
        if stops:
            text += " Across the uncertain assumptions, the music stops before 2030 in " + ", ".join(
                f"{_pct(v)} of {k} runs" for k, v in stops.items()
            ) + "."
        for label, box in numbers.get("prim", {}).items():
            limits = "; ".join(f"{k} in [{lo:.4g}, {hi:.4g}]" for k, (lo, hi) in list(box["limits"].items())[:4])
            text += f" In {label}, the box where it stops before 2030 ({_pct(box['coverage'])} of those runs, " \
                    f"{_pct(box['density'])} of the runs inside) is: {limits}."
        body += _p(text)
        body += '<p class="how">How to read: the box names the assumptions that, together, make an early '
        body += "stop likely; coverage is how many early stops it explains, density how sure it is.</p></div>"
    if body:
        doc.add("summary", "Summary: the three questions", body, first=True)


def default_sections() -> list[Section]:
    """The analysis sections of the full report, in order (the summary last:
    it draws on the others and places itself first)."""
    return [section_loops, section_ledger, section_sensitivity, section_summary]

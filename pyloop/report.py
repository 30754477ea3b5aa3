"""Assemble the report: one self-contained HTML file with its figures.

:func:`build_report` runs the model's scenarios and policies and the
analyses, and writes ``report.html`` (every figure embedded) with the figures
also saved as PNG in ``figures/`` beside it. It builds the report in a
staging folder next to the output folder and renames it into place only when
everything succeeded, so an interrupted report never leaves a half-written
one. An output folder is replaced only if it holds an earlier report (it
carries the marker file ``.pyloop-report``).
"""

from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import html
import io
import os
import re
import shutil
import sys
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import pandas as pd

from .errors import PyloopError
from .model import Model, load_model
from .runner import RunResult, key_variables, run
from .scenarios import load_scenarios

__all__ = ["MARKER", "ReportSettings", "build_report", "default_sections", "equation_texts"]

#: File that marks a folder as a pyloop report (holds the run manifest).
MARKER = ".pyloop-report"
_STAGING = ".partial-"


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
        from .plots import save_figure

        target = self.folder / "figures" / f"{name}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        save_figure(fig, target, dpi=110)
        self.figures.append(target.name)
        data = base64.b64encode(target.read_bytes()).decode("ascii")
        return (
            f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        )

    def add(self, anchor: str, title: str, body: str) -> None:
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
    scenarios = [run(model, name, scenarios=sf) for name in names]
    policy_bases = [n for n in ("baseline", "music_stops") if n in names] or names[:1]
    if settings.quick:
        policy_bases = policy_bases[:1]
    progress("running policies")
    policies = {
        base: [run(model, base, scenarios=sf)] + [run(model, base, p, scenarios=sf) for p in sf.policies]
        for base in policy_bases
    }
    return {"scenario_file": sf, "scenarios": scenarios, "policies": policies, "names": names}


# -------------------------------------------------------------- sections
def _section_scenarios(doc: _Document, model: Model, runs: dict[str, Any]) -> None:
    from .plots import comparison_figure
    from .runner import summary

    sf = runs["scenario_file"]
    variables = key_variables(model, sf)
    rows = [
        {"scenario": s.name, "extends": s.extends or "", "description": s.description}
        for s in sf.scenarios.values()
        if s.name in runs["names"]
    ]
    body = _p("Outside conditions the model is run under; each sets constants only.")
    body += _table(pd.DataFrame(rows))
    body += doc.figure(
        "scenarios", comparison_figure(runs["scenarios"], variables), "Key variables of every scenario."
    )
    table = summary(runs["scenarios"], variables).reset_index()
    body += "<details><summary>Start, minimum, maximum and final value of each key variable</summary>"
    body += _table(table) + "</details>"
    doc.add("scenarios", "Scenarios", body)

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
    from .plots import view_figure
    from .sketch import read_sketch

    views = read_sketch(model.path) if model.path.suffix.lower() == ".mdl" else []
    if not views:
        return
    body = _p(
        "The stock-and-flow diagram, one view per sector and an overview on which "
        "the nine named feedback loops can be followed. Boxes are stocks, pipes with "
        "valves are flows, clouds are sources and sinks outside the ring, grey names "
        "in angle brackets are variables drawn on another view."
    )
    for view in views:
        stem = "view_" + "_".join(view.title.lower().split())
        body += doc.figure(stem, view_figure(view), f"View: {view.title}.")
    doc.add("diagram", "Stock-and-flow diagram", body)


def _section_calibration(doc: _Document, model: Model, runs: dict[str, Any]) -> pd.DataFrame | None:
    from .calibration import calibration_path, measure_checks, read_checks

    path = calibration_path(model.path)
    base = next((r for r in runs["scenarios"] if r.scenario == "baseline"), None)
    if not path.is_file() or base is None:
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
    from .check import check_model
    from .simlin_engine import run as simlin_run
    from .simlin_engine import simlin_ident

    rows = []
    findings = check_model(model)
    errors = [f for f in findings if f.severity == "error"]
    rows.append(
        {
            "test": "Model quality (pyloop check: units by Simlin, documentation, buried numbers, "
            "diagram, loops, integration error)",
            "result": "pass" if not errors else f"{len(errors)} error(s)",
            "detail": "; ".join(f"{f.code} {f.variable or ''} {f.message}" for f in findings[:5]) or "no finding",
        }
    )
    names = {simlin_ident(v.name): v.name for v in model.variables}
    worst = 0.0
    for result in runs["scenarios"]:
        other = simlin_run(model.path, result.constants, names)
        for column in result.frame.columns:
            if column in other.columns:
                a = result.frame[column].to_numpy(dtype=float)
                scale = max(float(np.max(np.abs(a))), 1e-12)
                worst = max(worst, float(np.max(np.abs(a - other[column].to_numpy(dtype=float)))) / scale)
    rows.append(
        {
            "test": "Cross-engine: PySD and Simlin on the same .mdl, every scenario",
            "result": "pass" if worst < 1e-6 else "FAIL",
            "detail": f"largest difference {worst:.1e} of a variable's range (limit 1e-6)",
        }
    )
    stocks = [s for s in model.stocks if (model.variable(s).range or (None, None))[0] == 0]
    negative = [
        (r.name, s, float(r.frame[s].min()))
        for r in runs["scenarios"]
        for s in stocks
        if float(r.frame[s].min()) < -1e-9
    ]
    rows.append(
        {
            "test": "No stock declared non-negative ([0,?]) falls below zero in any scenario",
            "result": "pass" if not negative else "FAIL",
            "detail": "; ".join(f"{n}: {s} {v:.3g}" for n, s, v in negative[:5]) or f"{len(stocks)} stocks checked",
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


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _prepare(out: Path) -> Path:
    """Check the output folder, clear stale staging folders, make a new one."""
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / MARKER).is_file())):
        raise PyloopError(
            f"'{out}' exists and is not an earlier pyloop report; choose an empty or new folder with --out"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    for stale in out.parent.glob(f".{out.name}{_STAGING}*"):
        pid = stale.name.rsplit("-", 1)[-1]
        if pid.isdigit() and not _pid_alive(int(pid)):
            shutil.rmtree(stale, ignore_errors=True)
    staging = out.parent / f".{out.name}{_STAGING}{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    return staging


def _publish(staging: Path, out: Path) -> None:
    """Put the finished report in place of ``out`` (an earlier report or nothing)."""
    old = None
    if out.exists():
        old = out.parent / f".{out.name}.old-{os.getpid()}"
        os.rename(out, old)
    os.rename(staging, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


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
    import json

    out = Path(out)
    model = model if isinstance(model, Model) else load_model(model)
    say = progress or (lambda message: None)
    started = _dt.datetime.now(_dt.timezone.utc)
    staging = _prepare(out)
    try:
        doc = _Document(staging)
        runs = _runs(model, settings, say)
        say("drawing scenarios and policies")
        _section_scenarios(doc, model, runs)
        for section in extra_sections:
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
        (staging / "report.html").write_text(_render(doc, title, subtitle), encoding="utf-8")
        (staging / MARKER).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        say("publishing")
        _publish(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out / "report.html"


def default_sections() -> list[Section]:
    """The analysis sections of the full report, in order."""
    return []

"""The case study the toolkit ships with: the 2025 "AI circular financing"
ring of an AI lab, a cloud provider and a chip maker.

It holds everything of the report that belongs to this model rather than to
models in general: the scenarios to look at closely, the years at which the
ledger states who paid, the outputs compared in knockouts, the key
variables whose driving loops the report finds, the windows of the
escalation and of the fall, and the summary that answers the case's three questions (who pays,
which loops drive the boom, when the music stops). :data:`CASE` plugs them
into the generic report::

    settings = CASE.report_settings(ReportSettings(quick=True))
    build_report(out, model, settings, extra_sections=CASE.sections())
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from pyloop.engine import Model
from pyloop.errors import PyloopError
from pyloop.report import Focus, ReportSettings, Section, default_sections
from pyloop.report.document import Document, paragraph
from pyloop.report.loop_section import RUNAWAY_CHANGE, phase_leaders, runaway_knockouts, strongest_knockout
from pyloop.report.settings import LoopWindow
from pyloop.runner import RunResult
from pyloop.sensitivity.discovery import music_stops_before
from pyloop.text_format import format_bound

__all__ = [
    "CASE",
    "Case",
    "DEFAULT_MODEL",
    "FOCUS",
    "KEY_VARIABLES",
    "KNOCKOUT_OUTPUTS",
    "HORIZON",
    "WHO_PAID_YEARS",
    "case_windows",
    "escalation_window",
    "fall_window",
    "music_stops_before",
    "section_summary",
    "summary_numbers",
]

#: The case's model, relative to the repository root.
DEFAULT_MODEL = Path("models") / "ai_circular_finance.mdl"
#: Scenarios the report looks at closely: the boom, and the boom that ends.
SCENARIOS = ("baseline", "music_stops")
#: Years at which the report states who paid (Year).
WHO_PAID_YEARS = (2027.0, 2030.0, 2035.0)
#: Outputs compared in knockout runs.
KNOCKOUT_OUTPUTS = ("Cloud Market Value", "Compute Contract Backlog", "AI Lab Cash", "Operational Capacity")
#: Variables whose driving loops the report finds, and compares in the knockout table.
KEY_VARIABLES = ("Total Lab Commitments", "Compute Contract Backlog", "Cloud Market Value", "AI Lab Cash")
#: The constant holding the date of the announcements (Year).
ANNOUNCEMENT = "Contract Announcement Time"
#: The escalation ends when the commitments first exceed this share of their value at
#: :data:`ESCALATION_REFERENCE` in the baseline.
ESCALATION_SHARE = 0.5
#: The time whose commitments the escalation measures against (Year).
ESCALATION_REFERENCE = 2026.5
#: The constant holding the date the equity appetite collapses in music_stops (Year).
SHOCK = "Equity Appetite Shock Time"
#: How long after the shock the fall's low point is looked for (Year).
FALL_SPAN = 2.0
#: The variable whose low point ends the fall.
FALL_VARIABLE = "Cloud Market Value"
#: The year the summary looks to: who paid by then, how often the music stops before it (Year).
HORIZON = 2030.0
#: The outcome holding the time the music stops (Year).
MUSIC_STOPS = "Music Stops Time"
#: The variable whose first positive value marks the first cancellation.
CANCELLATIONS = "Contract Cancellations"
#: Variables whose presence marks a model as this case's (a copy of it too).
SIGNATURE = (CANCELLATIONS, "AI Lab Cash", "Chip Maker Investment")



def _nearest(series: pd.Series, time: float) -> float:
    index = series.index.to_numpy(dtype=float)
    return float(series.iloc[int(np.argmin(np.abs(index - time)))])


def escalation_window(
    commitments: pd.Series, announced: float, reference: float = ESCALATION_REFERENCE,
    share: float = ESCALATION_SHARE,
) -> LoopWindow:
    """The escalation: from the announcements until the commitments first
    exceed ``share`` of their value at ``reference``.

    Args:
        commitments: Total Lab Commitments over a run (B$), indexed by time (Year).
        announced: the date of the announcements (Year).

    Raises:
        PyloopError: the commitments never exceed that share after the announcements.
    """
    target = share * _nearest(commitments, reference)
    after = commitments.loc[announced:]
    hits = after.index[(after.to_numpy(dtype=float) > target) & (after.index.to_numpy(dtype=float) > announced)]
    if not len(hits):
        raise PyloopError(
            f"the commitments never exceed {share:.0%} of their value at {reference:g} "
            f"({target:,.4g}) after {announced:g}, so the escalation has no end"
        )
    return LoopWindow("escalation", float(announced), float(hits[0]))


def fall_window(market_value: pd.Series, shock: float, span: float = FALL_SPAN) -> LoopWindow:
    """The fall: from the shock to the low point of the market value within
    ``span`` after it (the whole span if the value is lowest at the shock).

    Args:
        market_value: Cloud Market Value over a run (B$), indexed by time (Year).
        shock: the date equity appetite collapses (Year).

    Raises:
        PyloopError: the shock lies outside the run.
    """
    index = market_value.index.to_numpy(dtype=float)
    if not index[0] <= shock < index[-1]:
        raise PyloopError(f"the shock at {shock:g} lies outside the run ({index[0]:g} to {index[-1]:g})")
    inside = market_value.loc[shock:shock + span]
    low = float(inside.idxmin())
    if low <= float(inside.index[0]):
        return LoopWindow("two years after the shock", float(shock), float(inside.index[-1]))
    return LoopWindow("fall", float(shock), low)


def case_windows(model: Model, results: Mapping[str, RunResult]) -> dict[str, LoopWindow]:
    """The escalation in the baseline and the fall in music_stops (those run)."""
    found = {}
    if "baseline" in results:
        base = results["baseline"]
        announced = float({**model.defaults, **base.constants}[ANNOUNCEMENT])
        found["baseline"] = escalation_window(base.frame["Total Lab Commitments"], announced)
    if "music_stops" in results:
        stops = results["music_stops"]
        shock = float({**model.defaults, **stops.constants}[SHOCK])
        found["music_stops"] = fall_window(stops.frame[FALL_VARIABLE], shock)
    return found


#: Where the report looks closely for this case.
FOCUS = Focus(
    scenarios=SCENARIOS,
    knockout_outputs=KNOCKOUT_OUTPUTS,
    ledger_years=WHO_PAID_YEARS,
    discovery="in which the music stops early",
    loop_variables=KEY_VARIABLES,
    loop_windows=case_windows,
    # fitted to the history by the report (identified by the observations)
    history_constants=("Initial AI Revenue", "Maximum Revenue Growth Rate", "Base Interest Rate",
                       "Reference Credit Spread", "Initial Contract Value", "Reference Commitment Multiple",
                       "Construction Time", "Chip Maker Base Enterprise Value"),
    # when the music stops: the first cancellation and the cloud's trough
    history_events=(("First contract cancellation", CANCELLATIONS, "first above zero"),
                    ("Trough of Cloud Market Value", "Cloud Market Value", "trough")),
)


def summary_numbers(runs: dict[str, Any]) -> dict[str, Any]:
    """The numbers the summary states, from the analyses' own results.

    Args:
        runs: the runs and results the report's sections left (see
            :mod:`pyloop.report.sections`).
    """
    numbers: dict[str, Any] = {}
    audits = runs.get("audits", {})
    if "baseline" in audits:
        row = audits["baseline"].who_paid([HORIZON]).iloc[0]
        numbers["who_paid_2030"] = {k: float(v) for k, v in row.items()}
    loops = _loop_numbers(runs)
    if loops:
        numbers["loops"] = loops
    strongest = _strongest_knockout(runs)
    if strongest:
        numbers["strongest_knockout"] = strongest
    runaway: dict[str, dict[str, list[str]]] = {}
    for scenario, table in runs.get("knockouts", {}).items():
        for loop, variables in runaway_knockouts(table).items():
            runaway.setdefault(loop, {})[scenario] = variables
    if runaway:
        numbers["runaway_knockouts"] = runaway
        numbers["loop_names"] = {k: v for k, v in runs.get("loop_names", {}).items() if k in runaway}
    for result in runs["scenarios"]:
        if CANCELLATIONS not in result.frame.columns:
            continue
        hits = result.frame.index[result.frame[CANCELLATIONS].to_numpy() > 0]
        numbers.setdefault("first_cancellation", {})[result.name] = float(hits[0]) if len(hits) else None
    sensitivity = runs.get("sensitivity")
    if sensitivity:
        numbers["stops_before_2030"] = {
            label: float((result.outcomes[MUSIC_STOPS] < HORIZON).mean())
            for label, result in sensitivity["mc"].results.items()
            if MUSIC_STOPS in result.outcomes.columns
        }
        numbers["prim"] = {
            label: {"condition": box.condition, "coverage": box.coverage, "density": box.density,
                    "limits": {k: [float(v["low"]), float(v["high"])] for k, v in box.limits.iterrows()},
                    "ranges": {k: [float(v["min"]), float(v["max"])] for k, v in box.limits.iterrows()}}
            for label, box in sensitivity["mc"].boxes.items()
        }
    return numbers


def _num(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def _loop_numbers(runs: dict[str, Any]) -> dict[str, Any]:
    """Per focus scenario: its window and, per key variable, the numbers of
    its per-variable loop dominance (NaN as None)."""
    found: dict[str, Any] = {}
    frames = {r.scenario: r.frame for r in runs["scenarios"]}
    for scenario, variables in runs.get("variable_dominance", {}).items():
        window = runs["loop_windows"][scenario]
        entry: dict[str, Any] = {
            "window": {"label": window.label, "start": window.start, "end": window.end},
            "variables": {},
        }
        for variable, d in variables.items():
            values = frames[scenario][variable].loc[window.start:window.end]
            entry["variables"][variable] = {
                "behaviour_polarity": _num(d.behaviour_polarity),
                "reinforcing_share": _num(d.reinforcing_share),
                "agreement": _num(d.agreement),
                "change": float(values.iloc[-1] - values.iloc[0]),
                "reinforcing_leaders": phase_leaders(d, "R"),
                "balancing_leaders": phase_leaders(d, "B"),
            }
        found[scenario] = entry
    return found


def _strongest_knockout(runs: dict[str, Any]) -> dict[str, Any] | None:
    """The knockout that changes a key variable most, over the focus scenarios."""
    best = None
    for scenario, table in runs.get("knockouts", {}).items():
        row = strongest_knockout(table)
        if row and (best is None or abs(row["change"]) > abs(best["change"])):
            best = {"scenario": scenario, **row, "name": runs.get("loop_names", {}).get(row["loop"], "")}
    return best


def _pct(x: float) -> str:
    return f"{100 * x:.0f} %"


def _loop_clause(variable: str, v: dict[str, Any]) -> str:
    """What drives one variable over a window, in words true for any numbers."""
    share = v["reinforcing_share"]
    if share is None:
        return f"no loop through {variable} is active while it changes course"
    reinforcing = share >= 0.5
    kind = "reinforcing" if reinforcing else "balancing"
    held = share if reinforcing else 1 - share
    leaders = v["reinforcing_leaders" if reinforcing else "balancing_leaders"]
    moving = "falls" if v["change"] < 0 else "rises" if v["change"] > 0 else "ends where it began"
    text = f"{variable} {moving}"
    if v["behaviour_polarity"] is not None:
        text += f", accelerating in {_pct(v['behaviour_polarity'])} of the steps"
    reverse = " running in reverse" if reinforcing and v["change"] < 0 else ""
    text += f"; {kind} loops{reverse} hold {_pct(held)} of the loop score on it"
    if leaders:
        text += ", led by " + " and ".join(leaders)
    return text


def _loops_answer(numbers: dict[str, Any]) -> str:
    """The answer to "which loops drive the boom, which restrain it?"."""
    sentences = []
    for scenario, entry in numbers.get("loops", {}).items():
        window = entry["window"]
        opening = (
            "In the escalation" if window["label"] == "escalation"
            else "When the music stops" if scenario == "music_stops"
            else f"In {scenario}, {window['label']}"
        )
        clauses = [_loop_clause(k, v) for k, v in entry["variables"].items()]
        if clauses:
            sentences.append(
                f"{opening} ({scenario}, {window['start']:.2f} to {window['end']:.2f}), " + "; ".join(clauses) + "."
            )
    names = numbers.get("loop_names", {})
    for loop, where in numbers.get("runaway_knockouts", {}).items():
        variables = sorted({v for vs in where.values() for v in vs})
        sentences.append(
            f"Switching off {(loop + ' ' + names.get(loop, '')).strip()} lets {', '.join(variables)} run away "
            f"(a peak more than {RUNAWAY_CHANGE:g} times the base in {', '.join(where)}): that loop holds them."
        )
    best = numbers.get("strongest_knockout")
    if best:
        direction = "raises" if best["change"] > 0 else "lowers"
        other = "other " if numbers.get("runaway_knockouts") else ""
        sentences.append(
            f"Of the {other}named loops, switching off {(best['loop'] + ' ' + best['name']).strip()} changes the most: it {direction} the "
            f"{best['measure']} value of {best['variable']} in {best['scenario']} by {_pct(abs(best['change']))}."
        )
    return " ".join(sentences)


def section_summary(doc: Document, model: Model, runs: dict[str, Any], settings: ReportSettings) -> None:
    """The three questions answered in numbers, placed first in the report."""
    numbers = summary_numbers(runs)
    (doc.folder / "summary.json").write_text(json.dumps(numbers, indent=2), encoding="utf-8")
    body = ""
    paid = numbers.get("who_paid_2030")
    if paid:
        payment = next((k for k in paid if k.endswith("(B$)")), None)
        body += '<div class="answer"><h3>Who actually pays?</h3>'
        body += paragraph(
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
    answer = _loops_answer(numbers)
    if answer:
        body += '<div class="answer"><h3>Which loops drive the boom, which restrain it?</h3>'
        body += paragraph(answer + " The loop section shows each key variable's phases and every knockout.")
        body += '<p class="how">How to read: the loop score on a variable counts only the loops through it; '
        body += "where reinforcing loops hold more than half of it, they set the direction of change, "
        body += "where balancing loops do, they restrain it; a falling variable driven by reinforcing loops "
        body += "is a reinforcing loop running in reverse.</p></div>"
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
            spans = {k: hi - lo for k, (lo, hi) in box.get("ranges", {}).items()}
            limits = "; ".join(
                f"{k} in [{format_bound(lo, spans.get(k, hi - lo))}, {format_bound(hi, spans.get(k, hi - lo))}]"
                for k, (lo, hi) in box["limits"].items()
            )
            if not limits:
                text += f" In {label}, no assumption separates the runs that stop before 2030 from the others."
                continue
            text += f" In {label}, the box where it stops before 2030 ({_pct(box['coverage'])} of those runs, " \
                    f"{_pct(box['density'])} of the runs inside) is: {limits}."
        body += paragraph(text)
        body += '<p class="how">How to read: the box names the assumptions that, together, make an early '
        body += "stop likely; coverage is how many early stops it explains, density how sure it is.</p></div>"
    if body:
        doc.add("summary", "Summary: the three questions", body, first=True)


@dataclass(frozen=True)
class Case:
    """A case study: a model, where its report looks closely, and its own sections.

    Attributes:
        name: the case's name.
        focus: the report's focus for this case.
        signature: variables every model of this case has.
        summary: the case's summary section (placed first in the report).
    """

    name: str
    focus: Focus
    signature: tuple[str, ...]
    summary: Section

    def matches(self, model: Model | str | Path) -> bool:
        """Whether the model (or model file) is this case's: it names every
        variable of the signature (a copy of the case's model does too)."""
        if isinstance(model, Model):
            return all(model.resolve_name(name) for name in self.signature)
        path = Path(model)
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return False
        return all(name in text for name in self.signature)

    def report_settings(self, settings: ReportSettings = ReportSettings()) -> ReportSettings:
        """``settings`` with this case's focus."""
        return dataclasses.replace(settings, focus=self.focus)

    def sections(self) -> list[Section]:
        """The analysis sections of this case's report, the summary last (it
        draws on the others and places itself first)."""
        return [*default_sections(), self.summary]


#: The AI circular financing case.
CASE = Case(name="ai_circular_finance", focus=FOCUS, signature=SIGNATURE, summary=section_summary)

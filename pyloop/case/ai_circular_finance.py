"""The case study the toolkit ships with: the 2025 "AI circular financing"
ring of an AI lab, a cloud provider and a chip maker.

It holds everything of the report that belongs to this model rather than to
models in general: the scenarios to look at closely, the years at which the
ledger states who paid, the outputs compared in knockouts, the window of the
boom, and the summary that answers the case's three questions (who pays,
which loops drive the boom, when the music stops). :data:`CASE` plugs them
into the generic report::

    settings = CASE.report_settings(ReportSettings(quick=True))
    build_report(out, model, settings, extra_sections=CASE.sections())
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyloop.engine import Model
from pyloop.report import Focus, ReportSettings, Section, default_sections
from pyloop.report.document import Document, paragraph
from pyloop.report.sections import reinforcing_share
from pyloop.sensitivity.discovery import music_stops_before

__all__ = [
    "BOOM",
    "CASE",
    "COLLAPSE",
    "Case",
    "DEFAULT_MODEL",
    "FOCUS",
    "KNOCKOUT_OUTPUTS",
    "HORIZON",
    "WHO_PAID_YEARS",
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
#: The window of the boom after the announcements (Year).
BOOM = (2025.7, 2027.5)
#: The window of the fall when the music stops (Year).
COLLAPSE = (2027.5, 2030.0)
#: The year the summary looks to: who paid by then, how often the music stops before it (Year).
HORIZON = 2030.0
#: The outcome holding the time the music stops (Year).
MUSIC_STOPS = "Music Stops Time"
#: The variable whose first positive value marks the first cancellation.
CANCELLATIONS = "Contract Cancellations"
#: Variables whose presence marks a model as this case's (a copy of it too).
SIGNATURE = (CANCELLATIONS, "AI Lab Cash", "Chip Maker Investment")

#: Where the report looks closely for this case.
FOCUS = Focus(
    scenarios=SCENARIOS,
    knockout_outputs=KNOCKOUT_OUTPUTS,
    ledger_years=WHO_PAID_YEARS,
    discovery="in which the music stops early",
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
    analyses = runs.get("loop_analyses", {})
    if "baseline" in analyses:
        numbers["boom_reinforcing_share"] = reinforcing_share(analyses["baseline"], *BOOM)
    if "music_stops" in analyses:
        numbers["collapse_reinforcing_share"] = reinforcing_share(analyses["music_stops"], *COLLAPSE)
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
                    "limits": {k: [float(v["low"]), float(v["high"])] for k, v in box.limits.iterrows()}}
            for label, box in sensitivity["mc"].boxes.items()
        }
    return numbers


def _pct(x: float) -> str:
    return f"{100 * x:.0f} %"


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
        body += paragraph(text + " The loop section shows which loops lead each phase and what knocking each out changes.")
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

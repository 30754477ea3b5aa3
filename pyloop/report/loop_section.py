"""The loop section of a report: which loops drive each key variable, which
restrain it, and what switching each named loop off changes.

For each focus scenario and each key variable (:attr:`Focus.loop_variables`)
over the scenario's window (:attr:`Focus.loop_windows`, else the whole run),
:func:`section_loops` states the variable's behaviour polarity, the
reinforcing loops' weighted share of its loop score and how often the loops
agree with its behaviour (:func:`pyloop.analysis.loops.variable_dominance`),
names the loop groups that lead its phases, and draws it. The knockout table
gives, for each named loop switched off, the change in each key variable's
peak, trough and final value. Results are left in ``runs``:
``loop_windows`` (scenario to :class:`LoopWindow`), ``variable_dominance``
(scenario to variable to dominance), ``knockouts`` (scenario to knockout
table), ``loop_names`` (catalogue id to name) and ``loop_analyses`` (the partition-wide analyses).
"""

from __future__ import annotations

import html
import math
from typing import Any

import numpy as np
import pandas as pd

from pyloop.engine import Model
from pyloop.errors import PyloopError
from pyloop.report.document import Document, html_table, paragraph
from pyloop.report.settings import DEFAULT_LOOP_VARIABLES, LoopWindow, ReportSettings
from pyloop.runner import key_variables
from pyloop.text_format import format_share, format_year

__all__ = [
    "RUNAWAY_CHANGE",
    "knockout_changes",
    "loop_variables",
    "phase_leaders",
    "polarity_sentence",
    "runaway_knockouts",
    "section_loops",
    "short_label",
    "strongest_knockout",
]

#: What the knockout table measures of each key variable.
KNOCKOUT_MEASURES = ("peak", "trough", "final")


def loop_variables(model: Model, runs: dict[str, Any], settings: ReportSettings) -> list[str]:
    """The variables the loop section analyses: the focus's (those the model
    has), else the model's first :data:`DEFAULT_LOOP_VARIABLES` key variables."""
    declared = settings.focus.loop_variables
    if not declared:
        return key_variables(model, runs["scenario_file"])[:DEFAULT_LOOP_VARIABLES]
    found = (model.resolve_name(name) for name in declared)
    return [name for name in found if name]


#: How many stocks a sentence names of a loop group without a catalogued loop.
STOCKS_NAMED = 3


def short_label(dominance, label: str, stocks: int = STOCKS_NAMED) -> str:
    """A group's label for a sentence: its catalogued loops as they are, a
    group without any by at most ``stocks`` of its stocks and how many more."""
    group = next((g for g in dominance.groups if g.label == label), None)
    if group is None or group.names or " through " not in label:
        return label
    what, _, through = label.partition(" through ")
    names = through.split(", ")
    if len(names) <= stocks:
        return label
    return f"{what} through {', '.join(names[:stocks])} and {len(names) - stocks} more stocks"


def phase_leaders(dominance, polarity: str, count: int = 2) -> list[str]:
    """The loop groups that lead the ``polarity`` (``"R"`` or ``"B"``)
    phases of ``dominance`` most: each group's share summed over those
    phases, weighted by their length; strongest first, at most ``count``,
    labelled for a sentence (:func:`short_label`)."""
    time = np.asarray(dominance.time, dtype=float)
    step = float(time[1] - time[0]) if len(time) > 1 else 1.0
    weight: dict[str, float] = {}
    for phase in dominance.phases:
        if phase.polarity != polarity:
            continue
        length = phase.end - phase.start + step
        for label, share in zip(phase.leading, phase.shares):
            weight[label] = weight.get(label, 0.0) + abs(share) * length
    leaders = sorted(weight, key=lambda label: -weight[label])[:count]
    return [short_label(dominance, label) for label in leaders]


def _join(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def polarity_sentence(dominance) -> str:
    """What drives the variable over the window, in words that hold for
    any numbers: the behaviour polarity, the reinforcing share of its loop
    score (which polarity leads), the leading groups and the agreement."""
    d = dominance
    if math.isnan(d.reinforcing_share):
        return f"No loop through {d.variable} is active while it changes course in this window."
    moving = (
        f"it accelerates away from where it was in {format_share(d.behaviour_polarity, 0)} of the steps "
        "and settles in the rest"
        if not math.isnan(d.behaviour_polarity)
        else "it neither accelerates nor settles"
    )
    reinforcing = d.reinforcing_share >= 0.5
    lead = "R" if reinforcing else "B"
    held = d.reinforcing_share if reinforcing else 1 - d.reinforcing_share
    kind = "reinforcing" if reinforcing else "balancing"
    leaders = phase_leaders(d, lead)
    text = (
        f"{d.variable}: {moving}; {kind} loops lead, holding {format_share(held, 0)} of its loop score "
        f"(reinforcing {format_share(d.reinforcing_share, 0)}, steps weighted by how sharply it changes course)"
    )
    if leaders:
        text += f", led by {_join(leaders)}"
    other = phase_leaders(d, "B" if reinforcing else "R")
    if other:
        text += f"; the {'balancing' if reinforcing else 'reinforcing'} side is led by {_join(other)}"
    if not math.isnan(d.agreement):
        text += (
            f". The sign of the net loop score matches its behaviour in {format_share(d.agreement, 0)} "
            "of the weighted steps"
        )
    return text + "."


def _phase_table(dominance) -> pd.DataFrame:
    rows = [
        {
            "from": p.start,
            "to": p.end,
            "polarity": "reinforcing" if p.polarity == "R" else "balancing",
            "leading loops (share of the loop score)": "; ".join(
                f"{label} ({format_share(share, 0)})" for label, share in zip(p.leading, p.shares)
            ),
        }
        for p in dominance.phases
    ]
    return pd.DataFrame(rows)


def knockout_changes(runs: dict[str, Any], variables: list[str], scenario: str) -> pd.DataFrame:
    """The knockout table of one scenario from its knockout runs (``"base"``
    and one run per loop id, as :func:`pyloop.analysis.loops.knockouts`
    returns them): one row per loop and variable, with the base value and
    the change as a fraction of the base's magnitude (NaN where the base is 0)
    of its peak, trough and final value (the rows of
    :func:`pyloop.analysis.loops.knockout_table`), and the time of the
    base's peak and trough."""
    from pyloop.analysis.loops.knockout import knockout_rows

    base = runs["base"].frame
    found = {(row["loop"], row["output"]): row for row in knockout_rows(scenario, runs)}
    rows = []
    for lid in runs:
        if lid == "base":
            continue
        for variable in variables:
            found_row = found[(lid, variable)]
            row: dict[str, Any] = {"scenario": scenario, "loop": lid, "variable": variable}
            for measure in KNOCKOUT_MEASURES:
                row[f"base {measure}"] = float(found_row[f"base {measure}"])
                row[f"{measure} change"] = float(found_row[f"{measure} change %"]) / 100
            row["base peak time"] = float(base[variable].idxmax())
            row["base trough time"] = float(base[variable].idxmin())
            rows.append(row)
    return pd.DataFrame(rows)


#: A knockout that changes a peak by more than this many times the base (10:
#: tenfold) makes the variable run away: it is reported apart, not ranked.
RUNAWAY_CHANGE = 10.0


def strongest_knockout(
    table: pd.DataFrame, measures: tuple[str, ...] = ("peak",), runaway: float = RUNAWAY_CHANGE
) -> dict[str, Any] | None:
    """The row of a knockout table whose change in one of ``measures``
    (default the peak: a final value or trough near 0 makes any change look
    huge) is largest in magnitude, as ``loop``, ``variable``, ``measure`` and
    ``change`` (a fraction of the base); changes beyond ``runaway`` (see
    :func:`runaway_knockouts`) are left out; None if no change is left."""
    best = None
    for row in table.to_dict("records"):
        for measure in measures:
            change = row[f"{measure} change"]
            if math.isnan(change) or abs(change) > runaway:
                continue
            if best is None or abs(change) > abs(best["change"]):
                best = {"loop": row["loop"], "variable": row["variable"], "measure": measure, "change": change}
    return best


def runaway_knockouts(table: pd.DataFrame, runaway: float = RUNAWAY_CHANGE) -> dict[str, list[str]]:
    """The loops whose knockout changes a variable's peak by more than
    ``runaway`` times its base value (the loop holds that variable from
    running away): loop id -> the variables, in the table's order."""
    out: dict[str, list[str]] = {}
    for row in table.to_dict("records"):
        change = row["peak change"]
        if not math.isnan(change) and abs(change) > runaway and row["variable"] not in out.get(row["loop"], []):
            out.setdefault(row["loop"], []).append(row["variable"])
    return out


def _knockout_display(table: pd.DataFrame, names: dict[str, str]) -> str:
    shown = table.copy()
    shown["loop"] = [f"{lid} {names.get(lid, '')}".strip() for lid in shown["loop"]]
    for measure in KNOCKOUT_MEASURES:
        shown[f"{measure} change"] = [format_share(v) for v in shown[f"{measure} change"]]
    for column in ("base peak time", "base trough time"):
        shown[column] = [format_year(v) for v in shown[column]]
    shown = shown.drop(columns="scenario")
    return html_table(shown)


def _windows(model: Model, settings: ReportSettings, results: dict) -> dict[str, LoopWindow]:
    """The focus's window of each scenario run, the whole run where it gives none."""
    rule = settings.focus.loop_windows
    found = dict(rule(model, results)) if rule is not None else {}
    for name, result in results.items():
        if name not in found:
            time = result.frame.index
            found[name] = LoopWindow("whole run", float(time[0]), float(time[-1]))
    return found


def section_loops(doc: Document, model: Model, runs: dict[str, Any], settings: ReportSettings) -> None:
    """Which loops drive each key variable, and what knocking each out changes.

    Per focus scenario: each key variable's loop dominance over the
    scenario's window, the knockout table and figure, and the dominance
    across the whole model (folded away)."""
    from pyloop.analysis.loops import knockouts, load_catalogue, score_run, variable_dominance
    from pyloop.plots import knockout_figure, loop_dominance_figure, variable_dominance_figure
    from pyloop.report.sections import focus_scenarios, missing, skipped

    catalogue = load_catalogue(model)
    if not catalogue:
        skipped(
            doc, "loops", "Feedback loops",
            f"the model has no loop catalogue ({missing(model, 'loops')}) naming the loops to follow "
            "and switch off; 'pyloop loops' lists every loop of a run without one",
        )
        return
    names = {c.id: c.name for c in catalogue}
    variables = loop_variables(model, runs, settings)
    scenarios = focus_scenarios(runs, settings) or list(runs["names"][:1])
    results = {r.scenario: r for r in runs["scenarios"] if r.scenario in scenarios} or {
        runs["scenarios"][0].scenario: runs["scenarios"][0]
    }
    windows = _windows(model, settings, results)
    body = paragraph(
        "Which loops drive each key variable (Loops That Matter: Schoenberg, Davidsen and Eberlein 2020; "
        "Schoenberg, Hayward and Eberlein 2023). Only loops through the variable count; loops through the "
        "same stocks are grouped so that near-cancelling twins net out. A variable that accelerates away "
        "from where it was behaves as a reinforcing loop would, one that settles as a balancing loop would; "
        "the reinforcing share weighs each step by how sharply the variable changes course."
    )
    body += '<p class="how">How to read: in each figure the line is red where reinforcing loops hold at least '
    body += "half the variable's loop score and blue where balancing loops do; the bands beneath are the loop "
    body += "groups' shares, reinforcing above the axis. The shaded span is the window the sentence describes.</p>"
    dominance: dict[str, dict[str, Any]] = {}
    for scenario, result in results.items():
        window = windows[scenario]
        body += f"<h3>{html.escape(str(scenario))}: {html.escape(window.label)}, "
        body += f"{format_year(window.start)} to {format_year(window.end)}</h3>"
        for variable in variables:
            try:
                d = variable_dominance(
                    model, result, variable, (window.start, window.end), catalogue=catalogue
                )
            except PyloopError as error:
                body += paragraph(f"{variable}: not analysed ({error}).")
                continue
            dominance.setdefault(scenario, {})[d.variable] = d
            body += paragraph(polarity_sentence(d))
            stem = f"drivers_{scenario}_{'_'.join(d.variable.lower().split())}"
            body += doc.figure(
                stem,
                variable_dominance_figure(d, result.frame[d.variable]),
                f"What drives {d.variable}, scenario {scenario} ({window.label}).",
            )
            if d.phases:
                body += f"<details><summary>Phases of {html.escape(d.variable)}</summary>"
                body += html_table(_phase_table(d)) + "</details>"
    knocked = {}
    outputs = [o for o in settings.focus.knockout_outputs if model.resolve_name(o)]
    switched = [c.id for c in catalogue if c.switch]
    for scenario in list(results) if (variables and switched) else []:
        _, kruns = knockouts(model, scenario, outputs=list(dict.fromkeys([*variables, *outputs])))
        table = knockout_changes(kruns, variables, scenario)
        knocked[scenario] = table
        body += f"<h3>Knockouts, {html.escape(str(scenario))}</h3>"
        body += paragraph(
            "Each named loop switched off in turn (its switch constant set to 0): the change in each key "
            "variable's peak, trough and final value, in percent of the run with every loop on."
        )
        body += _knockout_display(table, names)
        if outputs:
            body += doc.figure(
                f"knockouts_{scenario}",
                knockout_figure(kruns, outputs, catalogue=catalogue),
                f"Key outputs with each named loop knocked out, scenario {scenario}.",
            )
    analyses = {}
    for scenario, result in results.items():
        analysis = score_run(model, result)
        analyses[scenario] = analysis
        body += f"<details><summary>Dominance across the whole model, {html.escape(str(scenario))}</summary>"
        body += doc.figure(
            f"loops_{scenario}",
            loop_dominance_figure(analysis),
            f"Relative loop scores and dominance phases across the cycle partition, scenario {scenario} "
            f"({analysis.mode} mode, {analysis.total_loops} loops scored).",
        )
        body += "</details>"
    runs["loop_windows"] = windows
    runs["loop_names"] = names
    runs["variable_dominance"] = dominance
    runs["knockouts"] = knocked
    runs["loop_analyses"] = analyses
    doc.add("loops", "Feedback loops: dominance and knockouts", body)

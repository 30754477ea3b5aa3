"""The command line's tables and summaries as text: the loop table and its
dominance phases, the per-variable and mode reports, the knockout table and
the who-paid table. Each function returns the text; the commands print it."""

from __future__ import annotations

import math

from pyloop.text_format import format_year


def loops_report(analysis, window: tuple[float, float] | None, min_phase: float) -> str:
    """The loop table (id, name, polarity, confidence, length, mean relative
    score, variables), the dominance by polarity, the reinforcing share of
    ``window`` (start, end in model time units) when given, and the dominance
    phases lasting at least ``min_phase`` time units."""
    table = analysis.table()
    lines = [  # the run's name carries the constants --set changed
        f"Loops of run '{analysis.run}' ({analysis.mode} mode: relative scores are "
        f"shares of {analysis.total_loops} loops, {analysis.active_loops} of them active)"
    ]
    width = max([len(str(n)) for n in table["name"]] + [4])
    lines.append(f"{'id':<7} {'name':<{width}} pol   conf  struct len  mean|rel|  variables")
    for lid, row in table.iterrows():
        lines.append(
            f"{lid:<7} {row['name']:<{width}} {row['polarity']:<4} {row['confidence']:5.2f}  "
            f"{row['structural']:<6} {row['length']:<4} {row['mean |relative|']:9.3g}  "
            f"{row['variables']}"
        )
    if analysis.unmatched:
        lines.append("Named loops not found: " + ", ".join(analysis.unmatched))
    lines.append("\nDominance by polarity (R: reinforcing loops hold at least half):")
    for p in analysis.polarity_phases:
        lines.append(f"  {format_year(p.start):>9} - {format_year(p.end):<9} {p.polarity}  {', '.join(p.loops[:5])}")
    if window:
        start, end = window
        for part, share in analysis.reinforcing_share(start, end).items():
            stocks = sorted({s for k in analysis.loops if k.partition == part for s in k.stocks})
            lines.append(
                f"\nReinforcing loops dominate {share:.0%} of the steps from {format_year(start)} to {format_year(end)} "
                f"(partition {part}, stocks {', '.join(stocks)})"
            )
    long = [p for p in analysis.phases if p.end - p.start >= min_phase]
    lines.append(
        f"\nDominance phases (smallest set of loops holding half) lasting at least "
        f"{min_phase:g}: {len(long)} of {len(analysis.phases)}"
    )
    for p in long:
        lines.append(f"  {format_year(p.start):>9} - {format_year(p.end):<9} {p.polarity:<5} {', '.join(p.loops)}")
    return "\n".join(lines)


def knockout_report(table, names: dict[str, str], units: dict[str, str | None]) -> str:
    """The knockout table as text: per scenario and loop, the change of each
    variable's peak, trough and final value (knockout minus base, in the
    variable's units and in percent of the base)."""

    def label(output: str) -> str:
        return f"{output} ({units[output]})" if units.get(output) else output

    def cell(change: float, percent: float) -> str:
        text = f"{change:+.4g}"
        return text + (f" ({percent:+.1f}%)" if math.isfinite(percent) else "")

    width = max([len(label(o)) for o in table.index.get_level_values("output")] + [8])
    lines = ["Knockouts: each named loop switched off in turn; change of each variable "
             "from the base run (knockout minus base)"]
    for scenario, per_scenario in table.groupby(level="scenario", sort=False):
        lines.append(f"\nScenario '{scenario}':")
        lines.append(f"    {'variable':<{width}}  {'peak':>22}  {'trough':>22}  {'final':>22}")
        for lid, per_loop in per_scenario.groupby(level="loop", sort=False):
            lines.append(f"  {lid} {names.get(lid, '')} off:")
            for (_, _, output), row in per_loop.iterrows():
                cells = [cell(row[f"{k} change"], row[f"{k} change %"])
                         for k in ("peak", "trough", "final")]
                lines.append(f"    {label(output):<{width}}  " + "  ".join(f"{c:>22}" for c in cells))
    return "\n".join(lines)


def variable_report(dominance) -> str:
    """The per-variable dominance report as text."""

    def pct(x: float) -> str:
        return "n/a" if x != x else f"{x:.0%}"

    d = dominance
    start, end = d.window
    lines = [
        f"What drives '{d.variable}' from {format_year(start)} to {format_year(end)} (loops through it, "
        "grouped by the stocks they pass through):",
        f"  accelerates away (dX * d2X > 0) in {pct(d.behaviour_polarity)} of the steps",
        f"  reinforcing groups hold {pct(d.reinforcing_share)} of its loop score "
        "(steps weighted by |d2X|)",
        f"  the net loop score agrees with that behaviour in {pct(d.agreement)} of the "
        "weighted steps",
        "  Phases:",
    ]
    for p in d.phases:
        leads = ", ".join(f"{label} ({share:+.2f})" for label, share in zip(p.leading, p.shares))
        lines.append(f"    {format_year(p.start):>9} - {format_year(p.end):<9} {p.polarity}  {leads}")
    lines.append("  Loop groups, strongest first:")
    for g in d.groups[:10]:
        lines.append(f"    {g.label}  [{', '.join(g.loops)}]")
    return "\n".join(lines)


def modes_report(modes) -> str:
    """The mode phases as text: the dominant eigenvalue's kind, its value at
    the phase's middle step, and the loops it is most elastic to."""
    lines = [
        "Modes (dominant eigenvalue of the Jacobian, 1/time; loops by eigenvalue elasticity):"
    ]
    for p in modes.phases:
        z = p.eigenvalue
        value = f"{z.real:+.4g}" + (f" {z.imag:+.4g}i" if z.imag else "")
        loops = ", ".join(f"{label} ({e:+.2f})" for label, e in p.loops)
        lines.append(f"  {format_year(p.start):>9} - {format_year(p.end):<9} {p.kind:<22} {value:<20} {loops}")
    return "\n".join(lines)


def ledger_table(table) -> str:
    """The who-paid table as text: one row per quantity, one column per year;
    shares in percent, amounts in B$."""
    lines = []
    years = [format_year(y) for y in table.index]
    width = max(len(c) for c in table.columns)
    lines.append(f"{'by year':<{width}}  " + "  ".join(f"{y:>8}" for y in years))
    for column in table.columns:
        if "(B$)" in column:
            cells = [f"{v:8.1f}" for v in table[column]]
        elif "/" in column:
            cells = [f"{v:8.2f}" for v in table[column]]
        else:
            cells = [f"{100 * v:7.1f}%" for v in table[column]]
        lines.append(f"{column:<{width}}  " + "  ".join(cells))
    return "\n".join(lines)

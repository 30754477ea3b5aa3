"""What a report covers: :class:`ReportSettings`, and the :class:`Focus` a
case study gives it (the scenarios to look at closely, the variables whose
driving loops to find and the windows to find them in, the outputs to
compare in knockouts, the years to state who paid)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Mapping

if TYPE_CHECKING:
    from pyloop.engine import Model
    from pyloop.runner import RunResult

__all__ = ["DEFAULT_LOOP_VARIABLES", "Focus", "LoopWindow", "ReportSettings", "WindowRule"]

#: How many of the model's key variables the loop section analyses when the
#: focus names none (each costs a loop-score computation and a figure).
DEFAULT_LOOP_VARIABLES = 4


@dataclass(frozen=True)
class LoopWindow:
    """A stretch of one run in which the loop section asks which loops drive
    each key variable.

    Attributes:
        label: what the stretch is, for sentences ("escalation", "fall").
        start, end: its first and last time (model time units, e.g. Year).
    """

    label: str
    start: float
    end: float


#: How a case finds its windows: from the model and the focus scenarios'
#: runs (by scenario name), the window of each scenario it has one for.
WindowRule = Callable[["Model", Mapping[str, "RunResult"]], Mapping[str, LoopWindow]]


@dataclass(frozen=True)
class Focus:
    """Where the analysis sections look closely.

    Attributes:
        scenarios: scenarios that get policy runs, knockouts, the money
            ledger and the sensitivity study (those the report runs; the
            first scenario run if none of them is).
        knockout_outputs: variables compared when each named loop is
            switched off (those the model has); none: no knockouts.
        ledger_years: times at which the ledger states who paid (those
            within the run); none: the run's final time.
        discovery: what the PRIM box of the sensitivity study finds, as the
            end of the sentence "PRIM finds the box of assumptions ...".
        loop_variables: variables the loop section finds the driving loops
            of, and compares in the knockout table (those the model has and
            that lie on a loop); none: the model's key variables
            (:func:`pyloop.runner.key_variables`), at most
            :data:`DEFAULT_LOOP_VARIABLES` of them.
        loop_windows: the window of each focus scenario in which to find
            them; none, or a scenario it gives no window for: the whole run.
        history_constants: constants the "Against history" section fits to
            the observations; none: the uncertainty file's parameters.
        history_events: events whose time that section forecasts over the
            posterior, each ``(label, variable, how)`` with ``how`` either
            ``"first above zero"`` (first time the variable exceeds 0) or
            ``"trough"`` (time of the variable's minimum after its peak);
            none: the fit only.
    """

    scenarios: tuple[str, ...] = ("baseline",)
    knockout_outputs: tuple[str, ...] = ()
    ledger_years: tuple[float, ...] = ()
    discovery: str = "in which the condition of the scenario discovery holds"
    loop_variables: tuple[str, ...] = ()
    loop_windows: WindowRule | None = None
    history_constants: tuple[str, ...] = ()
    history_events: tuple[tuple[str, str, str], ...] = ()


@dataclass(frozen=True)
class ReportSettings:
    """What a report covers.

    Attributes:
        scenarios: scenarios to report (default every scenario of the model).
        quick: smaller sensitivity study and fewer policy runs.
        seed: seed of every random sample.
        samples: Monte Carlo samples (default 1000, quick 150).
        focus: where the analysis sections look closely (a case study's).
    """

    scenarios: tuple[str, ...] = ()
    quick: bool = False
    seed: int = 20250910
    samples: int | None = None
    focus: Focus = field(default_factory=Focus)

    @property
    def monte_carlo_samples(self) -> int:
        return self.samples or (150 if self.quick else 1000)

"""What a report covers: :class:`ReportSettings`, and the :class:`Focus` a
case study gives it (the scenarios to look at closely, the outputs to
compare in knockouts, the years to state who paid)."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Focus", "ReportSettings"]


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
    """

    scenarios: tuple[str, ...] = ("baseline",)
    knockout_outputs: tuple[str, ...] = ()
    ledger_years: tuple[float, ...] = ()
    discovery: str = "in which the condition of the scenario discovery holds"


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

"""``pyloop ledger``: check the model's money accounting, trace who paid and
print the who-paid table; write CSVs and a figure when asked."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from pyloop.errors import PyloopError
from pyloop.files import write_file, write_files
from pyloop.cli.model_choice import load_chosen_model
from pyloop.cli.text import ledger_table

if TYPE_CHECKING:  # pragma: no cover
    from pyloop.analysis.ledger import Largest, LedgerCheck


def audit_ledger(args: argparse.Namespace) -> int:
    """Run one scenario, check it against the ledger declaration, and print
    who paid the traced payment by each year up to ``--until``."""
    import pyloop.analysis.ledger as lg

    model = load_chosen_model(args)
    ledger = lg.load_ledger(model)  # checked against the equations before running
    if ledger.questions is None:
        raise PyloopError(
            f"{ledger.where()} has no [questions]; name the payment to trace there"
        )
    audit = lg.audit(model, args.scenario, args.policy, ledger=ledger)
    result, check, tracing = audit.result, audit.check, audit.tracing
    years = lg.report_years(result, args.until)
    table = audit.who_paid(years)
    q = ledger.questions
    until = years[-1]
    print(f"Ledger checks passed for run '{result.name}' ({check.steps} steps, tolerance {check.tolerance:g} B$):")
    for line in check_lines(check):
        print(f"  {line}")
    print(f"\nWho paid for {q.payment} (money moved from {result.frame.index[0]:g} to each year):")
    print(ledger_table(table))
    written: list[Path] = []
    if args.csv:
        money = lg.money_between(result, ledger, until)
        writers = {
            "who_paid.csv": lambda path: table.to_csv(path),
            "money_between.csv": lambda path: money.to_csv(path),
            "transaction_matrix.csv": lambda path: lg.transaction_matrix(result, ledger).to_csv(path),
            "balance_sheet.csv": lambda path: lg.balance_sheet(result, ledger).to_csv(path),
            "sector_totals.csv": lambda path: lg.sector_totals(result, ledger).to_csv(path),
            "net_worth_change.csv": lambda path: lg.net_worth_change(result, ledger).to_csv(path),
            "origin_shares.csv": lambda path: tracing.table().to_csv(path, index=False),
        }
        try:
            written += write_files(Path(args.csv), writers)
        except OSError as exc:
            raise PyloopError(
                f"cannot write CSVs to '{args.csv}': {exc.strerror or exc}; choose another --csv DIR"
            ) from exc
    if args.plot:
        from pyloop.plots import ledger_figure, save_figure

        target = Path(args.plot)
        fig = ledger_figure(**audit.figure_data(until))
        try:
            write_file(target, lambda path: save_figure(fig, path))
        except (OSError, ValueError) as exc:
            raise PyloopError(
                f"cannot write the figure '{args.plot}': {exc}; choose another --plot FILE "
                "(.png, .pdf or .svg)"
            ) from exc
        written.append(target)
    if written:
        files = "file" if len(written) == 1 else "files"
        print(f"\nWrote {len(written)} {files}: " + ", ".join(str(p) for p in written))
    return 0


def _at(largest: "Largest", step: bool) -> str:
    """Where a largest error was found: its stock or due, and its time."""
    if largest.time is None:
        return "nothing to check"
    when = f"step from {largest.time:g}" if step else f"time {largest.time:g}"
    return f"{largest.name}, {when}" if largest.name else when


def check_lines(check: "LedgerCheck") -> list[str]:
    """One line per ledger check of a run: what holds, its largest error
    (B$) and where it was found."""
    cash = max(check.stock_errors, key=lambda s: check.stock_errors[s])
    return [
        f"cash stocks follow their declared flows: largest error "
        f"{check.stock_errors[cash]:.2g} B$ ({cash})",
        f"money in the ring changes only by its boundary flows: largest error "
        f"{check.ring_error:.2g} B$",
        f"claim stocks follow their declared increases and decreases: largest error "
        f"{check.claims.error:.2g} B$ ({_at(check.claims, step=True)})",
        f"dues are paid or left unpaid, none disappears: largest error "
        f"{check.dues.error:.2g} B$ ({_at(check.dues, step=False)})",
        f"net financial worth of all sectors sums to zero: largest error "
        f"{check.net_worth.error:.2g} B$ ({_at(check.net_worth, step=False)})",
    ]

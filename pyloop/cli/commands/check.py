"""``pyloop check``: check a model's quality and print the findings."""

from __future__ import annotations

import argparse

from pyloop.cli.model_choice import load_chosen_model


def check_quality(args: argparse.Namespace) -> int:
    """Print the errors and warnings of the model's quality checks; exit
    status 1 when one fails (warnings fail too with ``--strict``). First
    lists the checks run: codes, what each checks, how many findings."""
    from pyloop.validation.quality import GENERIC_CODES, run_checks

    model = load_chosen_model(args)
    runs = run_checks(model, profile=args.profile)
    print(f"Checks run ({args.profile} profile):")
    for ran in runs:
        count = len(ran.findings)
        print(f"  {ran.codes}: {ran.what}: {count} finding{'s' if count != 1 else ''}")
    order = {"error": 0, "warning": 1}
    findings = sorted((f for ran in runs for f in ran.findings),
                      key=lambda f: (order.get(f.severity, 2), f.code, f.variable or ""))
    failing = {"error", "warning"} if args.strict else {"error"}
    for severity in ("error", "warning"):
        group = [f for f in findings if f.severity == severity]
        if group:
            print(f"{len(group)} {severity}{'s' if len(group) != 1 else ''}:")
            for f in group:
                print(f"  {f.code} {f.variable or '(model)'}: {f.message}")
    bad = sum(f.severity in failing for f in findings)
    print(f"{model.name}: {len(findings)} finding{'s' if len(findings) != 1 else ''}, "
          f"{bad} failing{' (strict)' if args.strict else ''} ({args.profile} profile)")
    if bad and args.profile == "house" and any(f.code not in GENERIC_CODES for f in findings):
        print("For a model not written to this project's conventions, --profile generic "
              "checks only real errors.")
    return 1 if bad else 0

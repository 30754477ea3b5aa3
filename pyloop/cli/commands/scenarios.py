"""``pyloop scenarios``: list a model's scenarios and policies."""

from __future__ import annotations

import argparse

from pyloop.errors import ModelFileError
from pyloop.declarations.scenarios import load_scenarios
from pyloop.cli.model_choice import model_path


def list_scenarios(args: argparse.Namespace) -> int:
    """Print the scenarios and policies of the model's scenario file, with
    their descriptions and what extends what."""
    from pyloop.declarations.paths import check_declarations
    from pyloop.declarations.scenarios import read_scenario_file

    path = model_path(args.model)
    if not path.is_file():
        raise ModelFileError(f"model file not found: '{path}'; check --model")
    named = check_declarations({"scenarios": args.scenarios}).get("scenarios")
    sf = read_scenario_file(named) if named else load_scenarios(path)
    if sf.path is None:
        print(f"{path.name}: no scenario file ({path.stem}.scenarios.toml); "
              "'pyloop run' runs the model's own defaults")
        return 0
    print(f"Scenarios in {sf.path.name}:")
    if not sf.scenarios:
        print("  (none)")
    width = max((len(n) for n in [*sf.scenarios, *sf.policies]), default=0)
    for s in sf.scenarios.values():
        parent = f" (extends {s.extends})" if s.extends else ""
        print(f"  {s.name:<{width}}  {s.description}{parent}")
    print("Policies:")
    if not sf.policies:
        print("  (none)")
    for p in sf.policies.values():
        print(f"  {p.name:<{width}}  {p.description}")
    if sf.key_variables:
        print("Key variables: " + ", ".join(sf.key_variables))
    return 0

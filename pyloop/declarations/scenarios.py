"""Read and validate scenario files.

The scenario file of a model ``X.mdl`` is ``X.scenarios.toml`` beside it.
Without that file a model has no scenarios: its own defaults are its only run.

Format::

    [meta]
    key_variables = ["AI Lab Cash", "Cloud Market Value"]   # optional

    [scenarios.baseline]
    description = "The story as told: the model's own defaults."

    [scenarios.music_stops]
    description = "Outside equity appetite collapses from 2027."
    extends = "baseline"                                     # optional
    [scenarios.music_stops.constants]
    "Equity Appetite Shock Time" = 2027

    [policies.leverage_cap]
    description = "..."
    [policies.leverage_cap.constants]
    "Leverage Cap Switch" = 1

Constant values are numbers in the constant's own units. This module checks
the file's shape and value types; whether each constant exists in the model
and lies in its declared range is checked by :mod:`pyloop.runner`.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

from pyloop.declarations.toml import read_toml
from pyloop.declarations.paths import declaration_path
from pyloop.errors import ParameterError, ScenarioError, suggest

__all__ = [
    "Policy",
    "Scenario",
    "ScenarioFile",
    "check_value",
    "list_policies",
    "list_scenarios",
    "load_scenarios",
    "read_scenario_file",
    "scenario_path",
]

_NAME = re.compile(r"^[A-Za-z0-9_-]+$")
_TOP_KEYS = ("meta", "scenarios", "policies")
_META_KEYS = ("key_variables", "title")
_SCENARIO_KEYS = ("description", "extends", "constants")
_POLICY_KEYS = ("description", "constants")


@dataclass(frozen=True)
class Scenario:
    """A named set of constant values describing one possible world.

    Attributes:
        name: the scenario's key in the file, e.g. ``"music_stops"``.
        description: one or two sentences for people.
        extends: name of the parent scenario, or ``None``.
        constants: constant name -> value set by this scenario itself
            (without the parent's); see :meth:`ScenarioFile.resolve`.
    """

    name: str
    description: str
    extends: str | None
    constants: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Policy:
    """A named set of constant values describing one decision.

    Attributes:
        name: the policy's key in the file, e.g. ``"leverage_cap"``.
        description: one or two sentences for people.
        constants: constant name -> value.
    """

    name: str
    description: str
    constants: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class ScenarioFile:
    """The validated content of one scenario file.

    Attributes:
        path: the file, or ``None`` when the model has no scenario file.
        key_variables: variables to compare across runs (may be empty).
        title: the model's title for reports and figures, or None.
        scenarios: scenario name -> :class:`Scenario`, in file order.
        policies: policy name -> :class:`Policy`, in file order.
    """

    path: Path | None
    key_variables: tuple[str, ...] = ()
    title: str | None = None
    scenarios: Mapping[str, Scenario] = field(default_factory=dict)
    policies: Mapping[str, Policy] = field(default_factory=dict)

    @property
    def _where(self) -> str:
        return f" in '{self.path.name}'" if self.path else " (the model has no scenario file)"

    def _find(self, kind: str, plural: str, table: Mapping[str, Any], name: str) -> Any:
        if name not in table:
            raise ScenarioError(
                f"unknown {kind} '{name}'{self._where}"
                + (suggest(name, table) or _known(plural, table))
            )
        return table[name]

    def scenario(self, name: str) -> Scenario:
        """The scenario called ``name``.

        Raises:
            ScenarioError: unknown name; the message suggests the closest.
        """
        return self._find("scenario", "scenarios", self.scenarios, name)

    def policy(self, name: str) -> Policy:
        """The policy called ``name``.

        Raises:
            ScenarioError: unknown name; the message suggests the closest.
        """
        return self._find("policy", "policies", self.policies, name)

    def chain(self, name: str) -> list[str]:
        """Scenario names from the root ancestor down to ``name``."""
        chain = [self.scenario(name).name]
        while self.scenarios[chain[-1]].extends is not None:
            chain.append(self.scenarios[chain[-1]].extends)
        return chain[::-1]

    def resolve(self, name: str) -> dict[str, float]:
        """Constants of scenario ``name`` with its ``extends`` chain applied.

        A child's values override its parent's.
        """
        merged: dict[str, float] = {}
        for link in self.chain(name):
            merged.update(self.scenarios[link].constants)
        return merged


def _known(kind: str, names: Mapping[str, Any]) -> str:
    if not names:
        return f"; there are no {kind}"
    return f"; known {kind}: {', '.join(names)}"


def scenario_path(model_path: str | os.PathLike[str]) -> Path:
    """The scenario file belonging to a model file: ``X.mdl`` -> ``X.scenarios.toml``."""
    p = Path(model_path)
    return p.with_name(p.stem + ".scenarios.toml")


def check_value(value: Any, constant: str, owner: str) -> float:
    """Return ``value`` if it is a finite real number (int or float, not bool).

    Args:
        value: the value read from a file or passed by a caller.
        constant: the constant's name, for the message.
        owner: who sets it, e.g. ``"scenario 'music_stops'"``.

    Raises:
        ParameterError: any other type, naming constant, owner and type; or
            NaN or an infinity (which would pass every range check and
            spoil the run), naming constant, owner and value.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ParameterError(
            f"constant '{constant}' in {owner} must be a number, "
            f"not {type(value).__name__} ({value!r})"
        )
    try:
        finite = math.isfinite(value)
    except OverflowError:  # an int too large for a float
        finite = False
    if not finite:
        shown = f"a {value.bit_length()}-bit integer" if isinstance(value, int) else repr(value)
        raise ParameterError(
            f"constant '{constant}' in {owner} must be a finite number, not {shown}"
        )
    return value


def _check_keys(table: Mapping[str, Any], allowed: tuple[str, ...], where: str, file: str) -> None:
    for key in table:
        if key not in allowed:
            raise ScenarioError(
                f"unknown key '{key}' in {where} of '{file}'; "
                f"allowed keys: {', '.join(allowed)}"
            )


def _table(value: Any, where: str, file: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise ScenarioError(f"{where} in '{file}' must be a table, not {type(value).__name__}")
    return value


def _string(value: Any, where: str, file: str) -> str:
    if not isinstance(value, str):
        raise ScenarioError(f"{where} in '{file}' must be a string, not {type(value).__name__}")
    return value


def _constants(table: Any, owner: str, file: str) -> Mapping[str, float]:
    table = _table(table, f"the constants of {owner}", file)
    return MappingProxyType({k: check_value(v, k, owner) for k, v in table.items()})


def _check_name(name: str, kind: str, file: str) -> None:
    if not _NAME.match(name):
        raise ScenarioError(
            f"{kind} name '{name}' in '{file}' may use only letters, digits, '_' and '-'"
        )


def read_scenario_file(path: str | os.PathLike[str]) -> ScenarioFile:
    """Read and validate a scenario file.

    Raises:
        ScenarioError: unreadable TOML, an unknown key, a malformed table, an
            unknown parent in ``extends`` or a cycle of ``extends``.
        ParameterError: a constant whose value is not a number.
    """
    path = Path(path)
    file = path.name
    data = read_toml(path, "scenario file", ScenarioError)
    _check_keys(data, _TOP_KEYS, "the top level", file)

    meta = _table(data.get("meta", {}), "[meta]", file)
    _check_keys(meta, _META_KEYS, "[meta]", file)
    keys = meta.get("key_variables", [])
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise ScenarioError(f"[meta] key_variables in '{file}' must be a list of variable names")
    title = meta.get("title")
    if title is not None:
        title = _string(title, "[meta] title", file)

    scenarios: dict[str, Scenario] = {}
    for name, body in _table(data.get("scenarios", {}), "[scenarios]", file).items():
        _check_name(name, "scenario", file)
        where = f"[scenarios.{name}]"
        body = _table(body, where, file)
        _check_keys(body, _SCENARIO_KEYS, where, file)
        extends = body.get("extends")
        scenarios[name] = Scenario(
            name=name,
            description=_string(body.get("description", ""), f"{where} description", file),
            extends=None if extends is None else _string(extends, f"{where} extends", file),
            constants=_constants(body.get("constants", {}), f"scenario '{name}'", file),
        )

    policies: dict[str, Policy] = {}
    for name, body in _table(data.get("policies", {}), "[policies]", file).items():
        _check_name(name, "policy", file)
        where = f"[policies.{name}]"
        body = _table(body, where, file)
        _check_keys(body, _POLICY_KEYS, where, file)
        policies[name] = Policy(
            name=name,
            description=_string(body.get("description", ""), f"{where} description", file),
            constants=_constants(body.get("constants", {}), f"policy '{name}'", file),
        )

    _check_extends(scenarios, file)
    return ScenarioFile(
        path=path,
        key_variables=tuple(keys),
        title=title,
        scenarios=MappingProxyType(scenarios),
        policies=MappingProxyType(policies),
    )


def _check_extends(scenarios: Mapping[str, Scenario], file: str) -> None:
    """Every parent exists and no chain of ``extends`` loops."""
    for start in scenarios:
        seen = [start]
        current = scenarios[start]
        while current.extends is not None:
            parent = current.extends
            if parent not in scenarios:
                raise ScenarioError(
                    f"scenario '{current.name}' in '{file}' extends unknown scenario "
                    f"'{parent}'" + (suggest(parent, scenarios) or _known("scenarios", scenarios))
                )
            if parent in seen:
                cycle = seen[seen.index(parent):] + [parent]
                raise ScenarioError(
                    f"scenarios in '{file}' extend each other in a cycle: "
                    f"{' -> '.join(cycle)}; remove one 'extends'"
                )
            seen.append(parent)
            current = scenarios[parent]


def load_scenarios(model: Any) -> ScenarioFile:
    """Scenario file of a model (a :class:`~pyloop.engine.Model` or a path).

    The file is the one named when the model was loaded (``--scenarios``),
    else ``X.scenarios.toml`` beside it. Returns an empty
    :class:`ScenarioFile` (``path=None``) when the model has no scenario file.
    """
    path = declaration_path(model, "scenarios")
    if not path.is_file():
        return ScenarioFile(path=None)
    return read_scenario_file(path)


def list_scenarios(model: Any) -> list[Scenario]:
    """Scenarios of a model (a :class:`~pyloop.engine.Model` or a path), in file order."""
    return list(load_scenarios(model).scenarios.values())


def list_policies(model: Any) -> list[Policy]:
    """Policies of a model (a :class:`~pyloop.engine.Model` or a path), in file order."""
    return list(load_scenarios(model).policies.values())

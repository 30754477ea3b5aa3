"""A finding of the model-quality checks (see :mod:`pyloop.validation.quality`)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Finding"]


@dataclass(frozen=True)
class Finding:
    """One problem found in a model.

    Attributes:
        code: e.g. ``"U001"``.
        severity: ``"error"`` or ``"warning"``.
        variable: the variable concerned, or ``None`` for the whole model.
        message: what is wrong and what to do.
    """

    code: str
    severity: str
    variable: str | None
    message: str

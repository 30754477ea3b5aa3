"""The strongest loops through one variable, found from its link scores.

A model with too many loops to enumerate is scored on a discovery set: the
named loops and the shortest loop through every feedback link. The shortest
loop through a link is seldom the one that carries its score, so a variable's
own strongest loops can be missing from that set (a lab comparing its
commitments with its goal closes that comparison through its negotiations,
not through the short path of its cancellations).

:func:`strongest_loops_through` searches them at chosen time steps with the
strongest-path method of Eberlein & Schoenberg (2020, "Finding the loops that
matter", International System Dynamics Conference): a depth-first search out
of the variable that follows the strongest links first and abandons a path
as soon as it reaches a variable more weakly than an earlier path did. It
finds, at each step, the loops through the variable with the largest
absolute loop scores (not provably all of them, as the authors note).
"""

from __future__ import annotations

from typing import Iterable, Mapping, Sequence

import numpy as np

from pyloop.analysis.structure import Loop, Structure

__all__ = ["strongest_loops_through"]


def _search(out: Sequence[Sequence[tuple[int, int]]], strength_of: Sequence[float], start: int) -> set[tuple[int, ...]]:
    """Loops through ``start`` found by the strongest-path search at one step.

    Variables and links are numbered: ``out[v]`` lists ``(link, w)`` for each
    link ``v -> w`` and ``strength_of[link]`` is its absolute score.
    """
    found: set[tuple[int, ...]] = set()
    best = [0.0] * len(out)
    # (variable, |path score| so far, path from start); children are pushed
    # weakest first so the strongest is explored first
    stack: list[tuple[int, float, tuple[int, ...]]] = [(start, 1.0, (start,))]
    while stack:
        here, strength, path = stack.pop()
        nexts = []
        for link, there in out[here]:
            s = strength * strength_of[link]
            if s == 0.0 or s != s or s == float("inf"):
                continue
            if there == start:
                found.add(path)
            elif s > best[there] and there not in path:
                best[there] = s
                nexts.append((s, there))
        nexts.sort()
        stack.extend((there, s, path + (there,)) for s, there in nexts)
    return found


def _rotated(variables: tuple[str, ...]) -> tuple[str, ...]:
    i = variables.index(min(variables))
    return variables[i:] + variables[:i]


def strongest_loops_through(
    structure: Structure,
    scores: Mapping[tuple[str, str], np.ndarray],
    variable: str,
    steps: Iterable[int],
    known: Iterable[Sequence[str]] = (),
    prefix: str = "S",
) -> list[Loop]:
    """The strongest loops through ``variable`` at each of ``steps``.

    Args:
        structure: the model's causal structure.
        scores: link scores over the run (see :func:`link_scores`) of every
            link among the variables of ``variable``'s cycle partition.
        variable: a variable on a feedback loop.
        steps: indices of the time steps to search at.
        known: loops already scored (any rotation); they are not returned.
        prefix: loop ids are ``prefix`` and a number, in order found.

    Returns:
        The new loops, each rotated to start at its alphabetically first
        variable.
    """
    part = structure.partition_of(variable)
    links = [
        link for link in scores
        if structure.partition_of(link[0]) == part and structure.partition_of(link[1]) == part
    ]
    names = sorted({v for link in links for v in link} | {variable})
    number = {v: i for i, v in enumerate(names)}
    out: list[list[tuple[int, int]]] = [[] for _ in names]
    for k, (cause, effect) in enumerate(links):
        out[number[cause]].append((k, number[effect]))
    steps = list(steps)
    strengths = np.abs(np.array([scores[link] for link in links], dtype=float).reshape(len(links), -1)[:, steps])
    seen = {_rotated(tuple(v)) for v in known}
    stocks = set(structure.stocks)
    loops: list[Loop] = []
    for j in range(len(steps)):
        found = _search(out, strengths[:, j].tolist(), number[variable])
        for path in sorted(found):
            key = _rotated(tuple(names[i] for i in path))
            if key in seen:
                continue
            seen.add(key)
            loops.append(
                Loop(
                    id=f"{prefix}{len(loops) + 1}",
                    variables=key,
                    stocks=tuple(v for v in key if v in stocks),
                    partition=part or 0,
                )
            )
    return loops

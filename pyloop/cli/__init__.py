"""The ``pyloop`` command: list scenarios, run them, write results.

Argument parsing and printing only; the work is done by the other packages.
:mod:`~pyloop.cli.parser` builds the parser, :mod:`~pyloop.cli.commands`
holds one module per command, :mod:`~pyloop.cli.text` formats tables and
summaries, :mod:`~pyloop.cli.model_choice` picks the model (``--model``,
or the case study's model in the repository) and :mod:`~pyloop.cli.set_option`
reads ``--set NAME=VALUE``. Every
:class:`~pyloop.errors.PyloopError` becomes one line
``pyloop: error: <message>`` on stderr and exit status 2.
"""

from __future__ import annotations

import signal
import sys
import warnings
from typing import Sequence

from pyloop.errors import PyloopError
from pyloop.files import write_files  # noqa: F401  (deprecated alias: use pyloop.files.write_files)
from pyloop.cli.model_choice import DEFAULT_MODEL, default_model_path
from pyloop.cli.parser import build_parser

__all__ = ["main", "build_parser", "default_model_path", "DEFAULT_MODEL"]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``pyloop`` command; returns the exit status."""
    try:
        args = build_parser().parse_args(argv)
    except PyloopError as exc:  # an option's value failed its type's check
        print(f"pyloop: error: {exc}", file=sys.stderr)
        return 2
    previous = _interrupt_on_sigterm()
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
            return args.func(args)
    except PyloopError as exc:
        print(f"pyloop: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a file error no command turned into its own message
        where = f"'{exc.filename}'" if exc.filename else "a file"
        print(f"pyloop: error: cannot access {where}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("pyloop: interrupted", file=sys.stderr)
        return 130
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Print a warning as one line ``pyloop: warning: <message>``, without the
    source file and line Python would show."""
    print(f"pyloop: warning: {message}", file=sys.stderr)


def _raise_interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def _interrupt_on_sigterm():
    """Make SIGTERM raise KeyboardInterrupt (so clean-ups in ``finally`` run);
    returns the previous handler, or None where signals cannot be set."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, _raise_interrupt)

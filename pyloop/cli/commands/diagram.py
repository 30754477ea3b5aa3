"""``pyloop diagram``: draw every view of a Vensim model's diagram."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Callable

from pyloop.errors import PyloopError
from pyloop.files import write_files
from pyloop.cli.model_choice import model_path


def draw_diagram(args: argparse.Namespace) -> int:
    """Write one picture per view and ``--format`` into ``--out``, all or nothing."""
    from pyloop.plots import save_figure, view_figure
    from pyloop.engine.vensim_sketch import read_sketch

    source = model_path(args.model)
    views = read_sketch(source)
    if not views:
        raise PyloopError(f"'{source.name}' has no diagram (no Vensim sketch section)")
    writers: dict[str, Callable[[Path], None]] = {}
    for view in views:
        stem = "view_" + "_".join(view.title.lower().split())
        for suffix in args.format:
            writers[f"{stem}.{suffix}"] = lambda path, view=view: save_figure(view_figure(view), path, dpi=110)
    written = write_files(Path(args.out), writers)
    print(f"Wrote {len(written)} files to {args.out}")
    return 0

"""``pyloop export [--format xmile]``: write the XMILE twin of a Vensim model."""

from __future__ import annotations

import argparse
from pathlib import Path

from pyloop.errors import PyloopError
from pyloop.files import write_file
from pyloop.engine import load_model
from pyloop.cli.model_choice import model_path


def export_xmile(args: argparse.Namespace) -> int:
    """Write the XMILE twin of the ``--model`` .mdl file to ``--out`` (default:
    beside it, with the suffix .xmile)."""
    from pyloop.errors import normalize_name
    from pyloop.engine.simlin import xmile_twin

    source = model_path(args.model)
    if source.suffix.lower() != ".mdl":
        raise PyloopError(f"export reads a Vensim .mdl file, not '{source.name}'")
    model = load_model(source)
    text = xmile_twin(source, {normalize_name(v.name): v.name for v in model.variables})
    out = Path(args.out) if args.out else source.with_suffix(".xmile")
    write_file(out, lambda path: path.write_text(text, encoding="utf-8"))
    print(f"Wrote {out} (XMILE twin of {source.name})")
    return 0

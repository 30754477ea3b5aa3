"""Build a report into its output folder.

:func:`build_report` runs the model's scenarios and policies and the
sections, and writes ``report.html`` (every figure embedded) with the
figures also saved as PNG in ``figures/`` beside it. It builds the report in
a hidden staging folder inside the output folder and moves its files into
place only when everything succeeded (see :mod:`pyloop.files`), so an
interrupted or failed report never leaves a half-written one and leaves the
folder as it was. An existing output folder is written into only if it is
empty or holds an earlier report (it carries the marker file
``.pyloop-report``, which lists the files that report wrote); then only the
report's own files are replaced, and the user's other files are kept.
"""

from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path
from typing import Callable, Iterable

from pyloop.engine import Model, load_model
from pyloop.errors import PyloopError
from pyloop.files import STAGING_PREFIX, Staging, cannot_write
from pyloop.report.document import Document, render
from pyloop.report.sections import (
    Section,
    collect_runs,
    run_manifest,
    section_calibration,
    section_diagrams,
    section_manifest,
    section_reference,
    section_scenarios,
    section_validity,
)
from pyloop.report.settings import ReportSettings

__all__ = ["MARKER", "build_report", "check_out"]

#: File that marks a folder as a pyloop report (holds the run manifest).
MARKER = ".pyloop-report"


def check_out(out: Path) -> list[str]:
    """Refuse an output folder that is not new, empty (but for pyloop's own
    staging folders) or an earlier report; return the files that earlier
    report wrote (relative paths, from its marker).

    Cheap: called before anything is run.
    """
    if out.exists() and not out.is_dir():
        raise PyloopError(f"'{out}' is a file, not a folder; choose a new or empty folder with --out")
    for parent in out.parents:
        if parent.exists():
            if not parent.is_dir():
                raise PyloopError(f"cannot write into '{out}': '{parent}' is a file, not a folder; choose another --out")
            break
    if not out.is_dir():
        return []
    try:
        own = [p for p in out.iterdir() if not p.name.startswith(STAGING_PREFIX)]
    except OSError as exc:
        raise cannot_write(out, exc) from exc
    if not own:
        return []
    if not (out / MARKER).is_file():
        raise PyloopError(
            f"'{out}' exists and is not an earlier pyloop report; choose an empty or new folder with --out"
        )
    try:
        earlier = json.loads((out / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    files = earlier.get("files", []) if isinstance(earlier, dict) else []
    # only plain relative paths inside the folder: the marker is a file like any other
    return [f for f in files if isinstance(f, str) and not Path(f).is_absolute() and ".." not in Path(f).parts]


def build_report(
    out: str | Path,
    model: Model | str | Path,
    settings: ReportSettings = ReportSettings(),
    progress: Callable[[str], None] | None = None,
    extra_sections: Iterable[Section] = (),
) -> Path:
    """Write the report into the folder ``out``.

    Args:
        out: output folder; must be new, empty, or an earlier report.
        model: the model (or its file).
        settings: what to cover.
        progress: called with a short message before each stage.
        extra_sections: further sections (see :data:`~pyloop.report.sections.Section`),
            called in order after the scenario sections; a case study's come
            with its focus (see :class:`~pyloop.report.settings.Focus`).

    Returns:
        Path of ``report.html``.
    """
    out = Path(out)
    earlier = check_out(out)
    model = model if isinstance(model, Model) else load_model(model)
    say = progress or (lambda message: None)
    started = _dt.datetime.now(_dt.timezone.utc)
    with Staging(out) as staging:
        try:
            doc = Document(staging.folder)
            runs = collect_runs(model, settings, say)
            say("drawing scenarios and policies")
            section_scenarios(doc, model, runs, settings)
            for section in extra_sections:
                say((section.__doc__ or section.__name__).strip().splitlines()[0].rstrip(".").lower())
                section(doc, model, runs, settings)
            say("drawing the diagram")
            section_diagrams(doc, model, runs, settings)
            say("measuring calibration")
            section_calibration(doc, model, runs, settings)
            say("running validity tests")
            section_validity(doc, model, runs, settings)
            section_reference(doc, model, runs, settings)
            manifest = run_manifest(model, settings, started)
            section_manifest(doc, manifest)
            title = f"{runs['scenario_file'].title or model.name}: model report"
            subtitle = f"Model {model.path.name}, sha256 {manifest['model_sha256'][:12]}; made {manifest['finished']}."
            (doc.folder / "report.html").write_text(render(doc, title, subtitle), encoding="utf-8")
            files = [p.as_posix() for p in staging.staged()] + [MARKER]
            (doc.folder / MARKER).write_text(json.dumps({**manifest, "files": files}, indent=2), encoding="utf-8")
        except OSError as exc:
            target = staging.destination(exc.filename) if exc.filename else out
            if target is None:
                raise  # not an output: an input that cannot be read
            raise cannot_write(target, exc) from exc
        say("publishing")
        staging.publish(remove=earlier)
    return out / "report.html"

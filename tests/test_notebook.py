"""The quickstart notebook runs top to bottom, and the figure API is documented.

The notebook is executed in a fresh Jupyter kernel (the current
interpreter's ``python3`` kernel), from the repository root, with the
translation cache in ``tmp_path`` and matplotlib's Agg backend.
"""

from __future__ import annotations

import re

import pytest

from circular import REPO

NOTEBOOK = REPO / "docs" / "quickstart.ipynb"
PLOTS_DOC = REPO / "docs" / "plots.md"


def _outputs_text(cell) -> str:
    """Everything a code cell printed or displayed as text."""
    parts = []
    for out in cell.get("outputs", []):
        if "text" in out:
            parts.append(out["text"])
        parts.append(out.get("data", {}).get("text/plain", ""))
    return "\n".join(parts)


def test_quickstart_is_stored_without_outputs():
    nbformat = pytest.importorskip("nbformat")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, "the notebook has no code cells"
    for cell in code:
        assert cell.outputs == [] and cell.execution_count is None, cell.source[:60]


@pytest.fixture(scope="module")
def executed_notebook(tmp_path_factory):
    """The quickstart notebook after running every cell."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    from jupyter_client.kernelspec import KernelSpecManager

    assert "python3" in KernelSpecManager().find_kernel_specs()
    mp = pytest.MonkeyPatch()
    mp.setenv("PYLOOP_CACHE_DIR", str(tmp_path_factory.mktemp("notebook-cache")))
    mp.setenv("MPLBACKEND", "Agg")
    try:
        nb = nbformat.read(NOTEBOOK, as_version=4)
        client = nbclient.NotebookClient(
            nb, kernel_name="python3", timeout=600, resources={"metadata": {"path": str(REPO)}}
        )
        client.execute()  # raises CellExecutionError naming the cell that failed
    finally:
        mp.undo()
    return nb


def test_quickstart_runs_without_errors(executed_notebook):
    code = [c for c in executed_notebook.cells if c.cell_type == "code"]
    assert all(c.execution_count is not None for c in code)
    errors = [o for c in code for o in c.outputs if o.output_type == "error"]
    assert errors == []


def test_quickstart_lists_scenarios_and_compares_runs(executed_notebook):
    cells = [c for c in executed_notebook.cells if c.cell_type == "code"]
    listing = next(_outputs_text(c) for c in cells if "list_scenarios" in c.source)
    for name in ("scenario baseline", "scenario music_stops", "policy   leverage_cap"):
        assert name in listing
    cell = next(c for c in cells if "pyloop.summary(" in c.source)
    summary = "".join(o["text"] for o in cell.outputs if o.output_type == "stream")
    rows = [line.split()[0] for line in summary.splitlines()[2:] if line.strip()]
    expected = ["baseline", "music_stops", "ai_boom", "baseline+Construction_Time=2"]
    for run in expected:
        assert run in rows, f"run {run} missing from the summary table"
    assert "AI Lab Cash" in summary and "Cloud Market Value" in summary


def test_quickstart_draws_its_figures(executed_notebook):
    cells = [c for c in executed_notebook.cells if c.cell_type == "code"]
    shown = [re.findall(r"<Figure size \d+x\d+ with (\d+) Axes>", _outputs_text(c)) for c in cells]
    panels = sorted(int(n) for found in shown for n in found)
    # comparison (3 panels), RunResult.plot side by side (2), loop dominance (2),
    # variable dominance (2), who paid (3)
    assert panels == [2, 2, 2, 3, 3]


def test_quickstart_traces_who_paid(executed_notebook):
    cells = [c for c in executed_notebook.cells if c.cell_type == "code"]
    cell = next(c for c in cells if ".who_paid(" in c.source)
    ledger = "".join(o["text"] for o in cell.outputs if o.output_type == "stream")
    assert "Compute Payments (B$)" in ledger
    years = [float(line.split()[0]) for line in ledger.splitlines()[2:] if line.strip()]
    assert years == [2027.0, 2030.0]


def test_every_public_plot_function_is_documented():
    import pyloop.plots

    text = PLOTS_DOC.read_text(encoding="utf-8")
    missing = [n for n in pyloop.plots.__all__ if not re.search(rf"^### .*`{n}[`(]", text, re.M)]
    assert missing == [], f"not documented in docs/plots.md: {missing}"


def test_plots_doc_and_notebook_are_linked():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    guide = (REPO / "docs" / "user-guide.md").read_text(encoding="utf-8")
    assert "docs/plots.md" in readme and "docs/quickstart.ipynb" in readme
    assert "plots.md" in guide and "quickstart.ipynb" in guide

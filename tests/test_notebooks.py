"""The notebooks in notebooks/ run top to bottom (small sizes: MIXEDJAX_NOTEBOOK_SMALL=1) and
show plots. A cell that runs past CELL_TIMEOUT fails the test at once, naming the cell."""
import os

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("matplotlib")

HERE = os.path.dirname(os.path.abspath(__file__))
NOTEBOOKS = os.path.join(os.path.dirname(HERE), "notebooks")
# the slowest cell (a GLMM's first compile) takes well under a minute on 2 free cores; a cell past
# this limit is a hang (e.g. jaxlib's batched-LAPACK thread-pool deadlock, see dense_inverse.py)
CELL_TIMEOUT = 300


@pytest.mark.parametrize("name", sorted(n for n in os.listdir(NOTEBOOKS) if n.endswith(".ipynb")))
def test_notebook_runs(name, monkeypatch):
    monkeypatch.setenv("MIXEDJAX_NOTEBOOK_SMALL", "1")
    # the kernel imports this checkout's mixedjax even when it is not pip-installed
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [os.path.dirname(HERE),
                                                                   os.environ.get("PYTHONPATH")])))
    notebook = nbformat.read(os.path.join(NOTEBOOKS, name), as_version=4)
    client = nbclient.NotebookClient(notebook, timeout=CELL_TIMEOUT, kernel_name="python3",
                                     resources={"metadata": {"path": NOTEBOOKS}})
    try:
        client.execute()
    except nbclient.exceptions.CellTimeoutError as error:
        pytest.fail(f"{name}: a cell ran past {CELL_TIMEOUT} s (a hang?):\n{error}")
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    assert any(o.get("output_type") in ("display_data", "execute_result") and "image/png" in o.get("data", {})
               for o in outputs), "the notebook should show at least one plot"

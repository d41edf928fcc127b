"""The notebooks in notebooks/ run top to bottom (small sizes: MIXEDJAX_NOTEBOOK_SMALL=1)."""
import os

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

HERE = os.path.dirname(os.path.abspath(__file__))
NOTEBOOKS = os.path.join(os.path.dirname(HERE), "notebooks")


@pytest.mark.slow  # power_and_bootstrap hung in a kernel in one CI run: run with -m slow, see README
@pytest.mark.parametrize("name", sorted(n for n in os.listdir(NOTEBOOKS) if n.endswith(".ipynb")))
def test_notebook_runs(name, monkeypatch):
    monkeypatch.setenv("MIXEDJAX_NOTEBOOK_SMALL", "1")
    # the kernel imports this checkout's mixedjax even when it is not pip-installed
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [os.path.dirname(HERE),
                                                                   os.environ.get("PYTHONPATH")])))
    notebook = nbformat.read(os.path.join(NOTEBOOKS, name), as_version=4)
    client = nbclient.NotebookClient(notebook, timeout=900, kernel_name="python3",
                                     resources={"metadata": {"path": NOTEBOOKS}})
    client.execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    assert any(o.get("output_type") in ("display_data", "execute_result") and "image/png" in o.get("data", {})
               for o in outputs), "the notebook should show at least one plot"

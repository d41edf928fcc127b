"""What a person installing from a checkout reads and types: the README's install lines, the
extras in pyproject.toml (the notebooks' imports are all installed by the ``notebooks`` extra),
and the error a plot gives without matplotlib."""
import json
import re
import sys
import tomllib
from pathlib import Path

from mixedjax._src import plots  # INSTALL_HINT is not public

ROOT = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
README = (ROOT / "README.md").read_text()


def _names(requirements) -> set[str]:
    return {re.split(r"[<>=!~ \[]", r, maxsplit=1)[0].lower() for r in requirements}


def _notebook_imports() -> set[str]:
    modules = set()
    for path in (ROOT / "notebooks").glob("*.ipynb"):
        for cell in json.loads(path.read_text())["cells"]:
            if cell["cell_type"] == "code":
                source = "".join(cell["source"])
                modules |= set(re.findall(r"^\s*(?:import|from)\s+([A-Za-z_]\w*)", source, flags=re.M))
    return modules


def test_notebooks_extra_installs_what_the_notebooks_import_and_run_with():
    extra = _names(PROJECT["optional-dependencies"]["notebooks"])
    assert {"jupyter", "nbconvert", "nbclient", "ipykernel", "matplotlib"} <= extra
    installed = _names(PROJECT["dependencies"]) | extra | {"mixedjax"}
    imported = _notebook_imports() - set(sys.stdlib_module_names)
    assert imported and imported <= installed, imported - installed


def test_readme_says_what_to_type_from_a_checkout():
    for line in ('pip install -e ".[plot]"', 'pip install -e ".[notebooks]"', 'pip install -e ".[test]"'):
        assert line in README, line
    assert "pip install mixedjax[" not in README  # not on the package index
    assert 'pip install -e ".[plot]"' in plots.INSTALL_HINT


def test_readme_documents_the_test_suites_cost():
    section = README[README.index("Run the tests"):README.index("## Use")]
    assert re.search(r"\d+ passed", section) and re.search(r"\d+(\.\d+)? GB", section)

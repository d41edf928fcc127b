"""The import graph of mixedjax has no cycle.

Every module of the package is parsed with ``ast``; every import of a
mixedjax module counts, relative or absolute, at module level or inside a
function (a function-local import hides a cycle from Python's import
machinery but not from the reader, who still has to know both modules to
understand either). A cycle means two modules that can only be read, tested
and changed together: the data path is meant to run one way, from formula to
display, with no module reaching back up.
"""

import ast
from pathlib import Path

import mixedjax

PACKAGE_ROOT = Path(mixedjax.__file__).parent


def _module_name(path, root):
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _package_of(module, path):
    return module if path.name == "__init__.py" else module.rpartition(".")[0]


def _imported_modules(path, module, known):
    """The mixedjax modules that ``path`` imports, anywhere in the file."""
    package = _package_of(module, path)
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                if node.module:
                    base.append(node.module)
                base = ".".join(base)
            else:
                base = node.module
            # `from . import x` imports the module x; `from .mod import name`
            # imports the module mod.
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                found.add(submodule if submodule in known else base)
    # `import mixedjax.x.y` counts as an import of mixedjax.x.y.
    edges = set()
    for name in found:
        while name and name not in known:
            name = name.rpartition(".")[0]
        if name and name != module:
            edges.add(name)
    return edges


def import_graph(root=PACKAGE_ROOT):
    """{module: the package's modules it imports} for the package at ``root``."""
    paths = {_module_name(p, root): p for p in root.rglob("*.py")}
    known = set(paths)
    return {m: _imported_modules(p, m, known) for m, p in paths.items()}


def find_cycle(graph):
    """One cycle as a list of modules (first == last), or None."""
    state = {}
    stack = []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_graph_sees_every_kind_of_import(tmp_path):
    # A cycle closed by a function-local import, and each import form.
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("")
    (package / "a.py").write_text("from .b import thing\nfrom . import c\n")
    (package / "b.py").write_text("def thing():\n    from .sub.d import other\n    return other\n")
    (package / "c.py").write_text("import pkg.sub\n")
    (package / "sub" / "d.py").write_text("from .. import a\nfrom ..c import x\n")
    graph = import_graph(package)
    assert graph == {"pkg": set(), "pkg.sub": set(), "pkg.a": {"pkg.b", "pkg.c"},
                     "pkg.b": {"pkg.sub.d"}, "pkg.c": {"pkg.sub"}, "pkg.sub.d": {"pkg.a", "pkg.c"}}
    assert find_cycle(graph) == ["pkg.a", "pkg.b", "pkg.sub.d", "pkg.a"]


def test_finder_reports_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_no_import_cycle():
    # The package __init__ imports everything to build the public namespace;
    # no module imports it back, so it cannot be on a cycle unless one does.
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)

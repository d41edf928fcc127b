"""The public namespace: every exception and warning class is defined once, in mixedjax/_src/errors.py,
and exported by mixedjax (and mixedjax.errors) with the result types; everything else is private,
under mixedjax/_src/."""
import ast
import importlib
from pathlib import Path

import mixedjax as mj
from mixedjax import errors

PACKAGE = Path(mj.__file__).parent


def _public_exception_classes(path: Path) -> list[str]:
    """Public classes in ``path`` deriving (by name) from an Error, Warning or Exception class."""
    found = []
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            bases = [ast.unparse(b) for b in node.bases]
            if any(b.endswith(("Error", "Warning", "Exception")) for b in bases):
                found.append(node.name)
    return found


def test_exceptions_and_warnings_are_defined_only_in_errors():
    elsewhere = {str(p.relative_to(PACKAGE)): names for p in sorted(PACKAGE.rglob("*.py"))
                 if p.relative_to(PACKAGE).as_posix() != "_src/errors.py"
                 and (names := _public_exception_classes(p))}
    assert elsewhere == {}
    assert sorted(_public_exception_classes(PACKAGE / "_src" / "errors.py")) == sorted(errors.__all__)


def test_every_error_and_warning_is_exported_and_is_one_class():
    for name in errors.__all__:
        assert getattr(mj, name) is getattr(errors, name), name
        assert name in mj.__all__, name
        assert getattr(mj, name).__module__ == "mixedjax", name  # tracebacks name the public home
    for module, names in {"frame": ["DataError"], "results": ["ConvergenceWarning"],
                          "inference.profile": ["ProfileWarning"]}.items():
        for name in names:  # the modules that raise them hold the one class, not a copy
            assert getattr(importlib.import_module(f"mixedjax._src.{module}"), name) is getattr(errors, name)


def test_only_the_curated_modules_are_public():
    public = sorted(p.stem for p in PACKAGE.iterdir()
                    if not p.name.startswith("_") and (p.suffix == ".py" or (p / "__init__.py").exists()))
    assert public == ["datasets", "errors", "plots"]
    for module in public:
        exported = importlib.import_module(f"mixedjax.{module}").__all__
        assert all(getattr(importlib.import_module(f"mixedjax.{module}"), name) is not None for name in exported)


def test_every_exported_name_resolves_to_its_type():
    for name in mj.__all__:
        assert getattr(mj, name) is not None, name
    assert mj.BatchResult is importlib.import_module("mixedjax._src.batch").BatchResult
    assert mj.BootstrapResult is importlib.import_module("mixedjax._src.batch").BootstrapResult
    assert mj.Profile is importlib.import_module("mixedjax._src.inference.profile").Profile
    assert mj.AnovaTable is importlib.import_module("mixedjax._src.inference.likelihood_ratio").AnovaTable
    assert issubclass(mj.LinearMixedModel, mj.MixedModelResults)
    assert issubclass(mj.GeneralizedLinearMixedModel, mj.MixedModelResults)
    assert issubclass(mj.NegativeBinomialMixedModel, mj.GeneralizedLinearMixedModel)

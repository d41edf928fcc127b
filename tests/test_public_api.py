"""The public namespace: every exception and warning class is defined once, in mixedjax/errors.py,
and exported by mixedjax with the result types; the old homes name the same classes."""
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
                 if p.name != "errors.py" and (names := _public_exception_classes(p))}
    assert elsewhere == {}
    assert sorted(_public_exception_classes(PACKAGE / "errors.py")) == sorted(errors.__all__)


def test_every_error_and_warning_is_exported_and_is_one_class():
    for name in errors.__all__:
        assert getattr(mj, name) is getattr(errors, name), name
        assert name in mj.__all__, name
    old_homes = {"formula": ["FormulaError"], "frame": ["DataError", "MissingValuesWarning"],
                 "arguments": ["ArgumentError"], "model": ["RankDeficiencyWarning"],
                 "progress": ["ProgressWarning"],
                 "results": ["SingularFitWarning", "ConvergenceWarning", "ConvergenceError"],
                 "inference.likelihood_ratio": ["RefitMLWarning"], "inference.profile": ["ProfileWarning"],
                 "inference.profile_spline": ["SplineError"], "inference.satterthwaite": ["DdfWarning"],
                 "inference.kenward_roger": ["KenwardRogerError"],
                 "inference.variance_components": ["BoundaryWarning"]}
    for module, names in old_homes.items():
        for name in names:
            assert getattr(importlib.import_module(f"mixedjax.{module}"), name) is getattr(errors, name)


def test_every_exported_name_resolves_to_its_type():
    for name in mj.__all__:
        assert getattr(mj, name) is not None, name
    assert mj.BatchResult is importlib.import_module("mixedjax.batch").BatchResult
    assert mj.BootstrapResult is importlib.import_module("mixedjax.batch").BootstrapResult
    assert mj.Profile is importlib.import_module("mixedjax.inference.profile").Profile
    assert mj.AnovaTable is importlib.import_module("mixedjax.inference.likelihood_ratio").AnovaTable
    assert issubclass(mj.LinearMixedModel, mj.MixedModelResults)
    assert issubclass(mj.GeneralizedLinearMixedModel, mj.MixedModelResults)
    assert issubclass(mj.NegativeBinomialMixedModel, mj.GeneralizedLinearMixedModel)

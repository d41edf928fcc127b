"""A fit's kind is decided once (``fit.kind``, ``mixedjax._src.model_kinds``), never probed.

The scan parses every module of the package with ``ast``: outside the result classes no module
may call ``hasattr``, read a result attribute through ``getattr`` with a default, or test a fit
with ``isinstance`` against a result class; each of those guesses what kind a fit is from its
attributes or class, where ``fit.kind`` says it. The fits below check that both kinds expose the
fields the rest of the package reads, with the same meaning.
"""

import ast
import warnings
from pathlib import Path

import numpy as np
import pytest

import mixedjax as mj
from mixedjax._src.fit_record import FitRecord
from mixedjax._src.generalized_model import GeneralizedLinearMixedModel
from mixedjax._src.linear_model import LinearMixedModel
from mixedjax._src.model_kinds import GeneralizedKind, LinearKind
from mixedjax._src.negative_binomial_model import NegativeBinomialMixedModel

PACKAGE_ROOT = Path(mj.__file__).parent
# the modules that define the result classes (where the kind is decided)
RESULT_MODULES = {"results.py", "linear_model.py", "generalized_model.py", "negative_binomial_model.py"}
RESULT_CLASSES = {"MixedModelResults", "LinearMixedModel", "GeneralizedLinearMixedModel",
                  "NegativeBinomialMixedModel"}
# attributes a fit carries that tell its kind apart, besides the classes' own names
FIT_ATTRIBUTES = {"family", "reml", "nAGQ", "problem", "data", "prior_weights", "mu", "hessian",
                  "stage1", "kind", "record", "optimizer_max_iterations", "reml_criterion"}


def _result_attribute_names() -> set[str]:
    names = set(FIT_ATTRIBUTES)
    for cls in (LinearMixedModel, GeneralizedLinearMixedModel, NegativeBinomialMixedModel):
        names.update(n for n in dir(cls) if not n.startswith("__"))
    return names


def _names_in(node) -> set[str]:
    """Class names an isinstance's second argument mentions (a name, an attribute, a tuple)."""
    if isinstance(node, ast.Tuple):
        return set().union(*(_names_in(e) for e in node.elts)) if node.elts else set()
    if isinstance(node, ast.Name):
        return {node.id}
    if isinstance(node, ast.Attribute):
        return {node.attr}
    if isinstance(node, ast.BinOp):  # A | B
        return _names_in(node.left) | _names_in(node.right)
    return set()


def kind_probes(source: str, attributes: set[str]) -> list[str]:
    """Where ``source`` guesses a fit's kind: hasattr(...), getattr(x, "<fit attribute>", default),
    isinstance(x, <result class>); as "line: text" strings."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
            continue
        name, args = node.func.id, node.args
        if name == "hasattr":
            found.append(f"{node.lineno}: {ast.unparse(node)}")
        elif name == "getattr" and len(args) == 3 and isinstance(args[1], ast.Constant) \
                and args[1].value in attributes:
            found.append(f"{node.lineno}: {ast.unparse(node)}")
        elif name == "isinstance" and len(args) == 2 and _names_in(args[1]) & (RESULT_CLASSES - {"MixedModelResults"}):
            found.append(f"{node.lineno}: {ast.unparse(node)}")
    return found


def test_scan_finds_each_kind_of_probe():
    source = "\n".join([
        "def f(fit, m):",
        "    a = hasattr(fit, 'family')",
        "    b = getattr(fit, 'reml', False)",
        "    c = isinstance(m, (LinearMixedModel, int))",
        "    d = isinstance(m, GeneralizedLinearMixedModel | str)",
        "    e = getattr(fit, 'heading', [])",  # not a fit attribute: allowed
        "    g = isinstance(m, MixedModelResults)",  # 'is this a fit at all': allowed
        "    return fit.kind.reml",
    ])
    probes = kind_probes(source, {"family", "reml"})
    assert [p.split(":")[0] for p in probes] == ["2", "3", "4", "5"]


def test_no_module_outside_the_result_classes_probes_a_fit():
    attributes = _result_attribute_names()
    offenders = {}
    for path in sorted(PACKAGE_ROOT.rglob("*.py")):
        if path.parent == PACKAGE_ROOT and path.name in RESULT_MODULES:
            continue
        probes = kind_probes(path.read_text(), attributes)
        if probes:
            offenders[str(path.relative_to(PACKAGE_ROOT))] = probes
    assert not offenders, f"kind probes (read fit.kind instead): {offenders}"


@pytest.fixture(scope="module")
def fits(sleepstudy):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        linear = mj.lmer("Reaction ~ Days + (1 | Subject)", sleepstudy)
        ml = mj.lmer("Reaction ~ Days + (1 | Subject)", sleepstudy, REML=False)
        data = sleepstudy.assign(count=np.round(sleepstudy["Reaction"] / 50.0))
        generalized = mj.glmer("count ~ Days + (1 | Subject)", data, family="poisson")
    return linear, ml, generalized


def test_kinds_are_decided_in_the_constructors(fits):
    linear, ml, generalized = fits
    assert linear.kind == LinearKind(True) and ml.kind == LinearKind(False)
    assert linear.reml and not ml.reml
    assert generalized.kind == GeneralizedKind(generalized.family, 1)
    assert generalized.family.name == "poisson" and generalized.nAGQ == 1
    assert linear.kind.criterion_name == "REML" and ml.kind.criterion_name == "deviance"
    assert generalized.kind.criterion_name == "deviance" and not generalized.kind.reml
    # hashable: the kind's family is static data of compiled programs
    assert len({linear.kind, ml.kind, generalized.kind, LinearKind(True)}) == 3


def test_both_kinds_expose_the_same_fields(fits):
    linear, _, generalized = fits
    for fit in (linear, generalized):
        assert isinstance(fit.record, FitRecord)
        assert fit.prior_weights.shape == (fit.nobs,)
        assert fit.optimizer_max_iterations == 100
        assert fit.problem is not None
    np.testing.assert_array_equal(linear.prior_weights, linear.spec.frame.weights)
    assert generalized.problem is generalized.data  # the GLMM's arrays, under both names


def test_the_record_is_what_the_results_report(fits):
    linear, ml, generalized = fits
    for fit in fits:
        record = fit.record
        np.testing.assert_array_equal(record.theta, fit.theta_values)
        np.testing.assert_array_equal(record.beta, fit.beta)
        np.testing.assert_array_equal(record.se, np.sqrt(np.diag(fit.vcov_matrix)))
        np.testing.assert_array_equal(fit.se.to_numpy(), record.se)
        assert record.sigma == fit.sigma
        assert record.singular == fit.is_singular
        assert (record.iterations, record.status) == (fit.optimizer.iterations, fit.optimizer.status)
    assert linear.record.criterion == linear.reml_criterion
    assert ml.record.criterion == ml.deviance
    assert generalized.record.criterion == generalized.deviance == -2 * generalized.loglik
    # the criterion a fit did not minimize is still lme4's (REML fit's ML deviance)
    assert linear.deviance != linear.reml_criterion


def test_a_one_replicate_batch_of_the_record_is_the_fit(fits):
    """``statistic_of_fit`` (bootstrap's t0) reads the record through ``batch.batch_result``."""
    from mixedjax._src.batch import batch_result
    for fit in fits:
        single = batch_result(fit, FitRecord(*(np.asarray(v)[None] for v in fit.record)))
        frame = single.to_frame()
        assert list(frame.columns[:len(fit.beta)]) == list(fit.fixef.index)
        np.testing.assert_array_equal(frame[fit.kind.criterion_name], [fit.record.criterion])
        assert single.sigma_scales_covariance == fit.kind.sigma_scales_covariance
        assert single.has_residual == fit.kind.has_residual

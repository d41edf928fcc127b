"""lme4 formula syntax: bar terms, expansions, offsets, errors."""
import pytest

from mixedjax._src.formula import FormulaError, parse_formula


def bars(text):
    return [(b.lhs, b.group, b.factors) for b in parse_formula(text).bars]


def test_simple_and_fixed_part():
    parsed = parse_formula("Reaction ~ Days + (Days | Subject)")
    assert parsed.response == "Reaction" and parsed.fixed == "Days"
    assert bars("Reaction ~ Days + (Days | Subject)") == [("Days", "Subject", ("Subject",))]


def test_double_bar_expands_like_lme4():
    parsed = parse_formula("Reaction ~ Days + (Days || Subject)")
    assert bars(parsed.text) == [("1", "Subject", ("Subject",)), ("0 + Days", "Subject", ("Subject",))]
    assert parsed.expanded_text == "Reaction ~ Days + ((1 | Subject) + (0 + Days | Subject))"
    assert bars("y ~ (0 + x + z || g)") == [("0 + x", "g", ("g",)), ("0 + z", "g", ("g",))]


def test_nesting_and_interactions():
    assert bars("y ~ 1 + (1 | batch/cask)") == [("1", "batch", ("batch",)),
                                                ("1", "cask:batch", ("cask", "batch"))]
    assert bars("y ~ (1 | a:b)") == [("1", "a:b", ("a", "b"))]


def test_no_intercept_fixed_part_and_offsets():
    parsed = parse_formula("y ~ 0 + x + offset(log(e)) + (1 | g)")
    assert parsed.fixed == "0 + x" and parsed.offsets == ("log(e)",)
    assert parse_formula("y ~ (1 | g)").fixed == "1"
    assert parse_formula("y ~ x - 1 + (1 | g)").fixed == "x - 1"


def test_nested_parentheses_of_bars():
    assert len(bars("y ~ x + ((1 | g) + (0 + x | g))")) == 2


@pytest.mark.parametrize("text,needle", [
    ("y ~ x", "no random-effects terms"),
    ("y ~ x + (x | )", "no grouping factor"),
    ("y ~ x + ( | g)", "nothing before"),
    ("y ~ x + ((1 | g)", "unbalanced"),
    ("y ~ x + (1 | g))", "unbalanced"),
    ("~ x + (1 | g)", "needs a response"),
    ("y ~ x + (1 | h) | g", "its own parentheses"),
])
def test_malformed_formulas_name_the_problem(text, needle):
    with pytest.raises(FormulaError, match=needle):
        parse_formula(text)

"""The journey expression language: values, hostile texts refused at parse time, and fuzzing."""

import ast
import copy
import json
import math
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from twostep.journeys import expressions
from twostep.journeys.expressions import (
    MAX_DEPTH,
    MAX_LENGTH,
    MAX_NODES,
    ROOTS,
    Expression,
    ExpressionError,
    parse_expression,
)

FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

CONTEXT: dict[str, Any] = {
    "user": {"email": "ada@example.com", "has_totp": True, "name": "Ada", "age": 36},
    "input": {"username": "ada", "attempts": 3, "code": "123456", "ratio": 0.5},
    "vars": {
        "skip": False,
        "x": {"y": {"z": "deep"}},
        "tags": ["admin", "ops", 7, None],
        "empty": "",
        "none": None,
        "zero": 0,
        "nums": [1, 2.0],
        "obj": {"a": 1},
    },
}

# (expression, expected value against CONTEXT)
VALID = [
    # literals
    ("1", 1),
    ("-7", -7),
    ("0", 0),
    ("1.25", 1.25),
    ("-0.5", -0.5),
    ("'single'", "single"),
    ('"double"', "double"),
    ("'it\\'s'", "it's"),
    ('"say \\"hi\\""', 'say "hi"'),
    ('"a\\\\b"', "a\\b"),
    ('"tab\\tnew\\nline"', "tab\tnew\nline"),
    ('"\\u00e9\\ud83d\\ude00"', "é😀"),
    ('"raw é 😀"', "raw é 😀"),
    ("''", ""),
    ("true", True),
    ("false", False),
    ("null", None),
    ("True", True),
    ("False", False),
    ("None", None),
    # names
    ("user.email", "ada@example.com"),
    ("input.username", "ada"),
    ("vars.x.y.z", "deep"),
    ("vars.x.y", {"z": "deep"}),
    ("vars.tags", ["admin", "ops", 7, None]),
    ("user", CONTEXT["user"]),
    ("user.missing", None),
    ("vars.missing.deeper.still", None),
    ("vars.x.y.z.w", None),  # walking into a string gives null
    ("user.email.upper", None),  # no attribute access: a string has no keys
    ("vars.tags.count", None),  # nor does a list
    ("input.in", None),  # keywords are fine as keys
    ("vars._private", None),
    # boolean operators: short-circuit, booleans by truthiness
    ("user.has_totp and not vars.skip", True),
    ("not vars.skip", True),
    ("not not vars.empty", False),
    ("vars.empty or vars.zero", False),
    ("vars.empty or user.name", True),
    ("user.name and vars.tags", True),
    ("vars.none or vars.missing", False),
    ("false and ('a' < 1)", False),  # the type error is never evaluated
    ("true or ('a' < 1)", True),
    # precedence: not > and > or, as in Python
    ("not true or true and false", False),
    ("not false or true and false", True),
    ("false and false or true", True),
    ("false and (false or true)", False),
    ("not (true and false)", True),
    ("not 1 == 2", True),
    ("1 + 2 == 3", True),
    ("'a' + 'b' in 'xaby'", True),
    # comparisons
    ("input.attempts >= 3", True),
    ("input.attempts > 3", False),
    ("input.attempts < 3.5", True),
    ("input.attempts <= 2", False),
    ("input.ratio == 0.5", True),
    ("1 == 1.0", True),
    ("1 != 2", True),
    ("'abc' < 'abd'", True),
    ("'B' < 'a'", True),  # by code point
    ("'b' >= 'a'", True),
    ("user.email == 'ada@example.com'", True),
    ("user.missing == null", True),
    ("user.missing != None", False),
    ("true == 1", False),  # booleans are not numbers
    ("false == 0", False),
    ("'1' == 1", False),
    ("vars.nums == vars.nums", True),
    ("vars.obj == vars.obj", True),
    ("vars.obj == vars.x", False),
    ("vars.tags == null", False),
    # membership
    ("'admin' in vars.tags", True),
    ("'root' in vars.tags", False),
    ("'root' not in vars.tags", True),
    ("7 in vars.tags", True),
    ("7.0 in vars.tags", True),
    ("null in vars.tags", True),
    ("2 in vars.nums", True),
    ("true in vars.nums", False),
    ("'example' in user.email", True),
    ("'@' not in user.email", False),
    ("'' in ''", True),
    # addition and concatenation
    ('"Acme: " + user.email', "Acme: ada@example.com"),
    ("'a' + 'b' + 'c'", "abc"),
    ("1 + 2 + 3", 6),
    ("1 + 0.5", 1.5),
    ("input.attempts + -1", 2),
    ("user.name + ' <' + user.email + '>'", "Ada <ada@example.com>"),
    # parentheses
    ("(1)", 1),
    ("((((user.name))))", "Ada"),
    ("(1 + 2) == (3)", True),
    ("  user.name\n\t", "Ada"),
]


@pytest.mark.parametrize(("text", "expected"), VALID)
def test_valid_expressions_evaluate(text: str, expected: Any) -> None:
    value = parse_expression(text).evaluate(CONTEXT)
    assert value == expected
    assert type(value) is type(expected)


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("1 + 2", set()),
        ('"Acme: " + user.email', {"user.email"}),
        ("input.username", {"input.username"}),
        ("user.has_totp and not vars.skip", {"user.has_totp", "vars.skip"}),
        ("vars.x.y in vars.x.y or user", {"vars.x.y", "user"}),
        ("(input.a == input.b) != (not vars.c)", {"input.a", "input.b", "vars.c"}),
    ],
)
def test_names(text: str, names: set[str]) -> None:
    assert parse_expression(text).names() == names


def test_an_empty_context_gives_null_names() -> None:
    assert parse_expression("user.email").evaluate({}) is None
    assert parse_expression("vars.a.b == null").evaluate({"vars": {"a": 5}}) is True
    assert parse_expression("input.x").evaluate({"input": ["not", "a", "dict"]}) is None


def test_the_expression_keeps_its_text_and_compares_by_value() -> None:
    expression = parse_expression("user.email + 'x'")
    assert expression.text == "user.email + 'x'"
    assert expression == parse_expression("user.email + 'x'")
    assert hash(expression) == hash(parse_expression("user.email + 'x'"))
    assert "user.email + 'x'" in repr(expression)


@pytest.mark.parametrize(
    "text",
    [
        # the brief's hostile list
        "__import__('os')",
        "().__class__",
        "user.__class__",
        "user.email.__len__",
        "vars.__dict__.x",
        "vars.a__b",
        "open('x')",
        "lambda: 1",
        "[x for x in y]",
        "user['email']",
        'exec("1")',
        "eval('1')",
        "compile('1', 'x', 'eval')",
        "os.system",
        "os.system('id')",
        "a",
        "x",
        "1 if x else 2",
        "1 if user.x else 2",
        'f"{user}"',
        "{**vars}",
        "*a",
        "*user.email",
        "yield 1",
        "await x",
        "x := 1",
        "(user.x := 1)",
        "(" * 10_000 + "1" + ")" * 10_000,
        "(" * (MAX_DEPTH + 1) + "1" + ")" * (MAX_DEPTH + 1),
        "not " * (MAX_DEPTH + 1) + "true",
        "1" + " + 1" * MAX_NODES,
        '"' + "a" * 100_000 + '"',
        "1" * (MAX_LENGTH + 1),
        "user.email\x00",
        "'a\x00b'",
        "'a\\u0000b'",
        "'\\ud800'",
        "'\ud800'",
        "1e309",
        "1e5",
        "1E5",
        "0x10",
        "1_000",
        "01",
        "1.",
        ".5",
        "1.2.3",
        "--1",
        "- 1",
        "1 - 1",
        "2 * 3",
        "7 // 2",
        "2 ** 8",
        "1 % 2",
        "~1",
        "1 & 2",
        "1 << 2",
        "user.email.upper()",
        "user.email[0]",
        "user.email[::-1]",
        "user .email",
        "user. email",
        "user.",
        "user..email",
        "vars.1",
        "[1, 2]",
        "{'a': 1}",
        "(1, 2)",
        "1, 2",
        "1; 2",
        "'a' 'b'",
        "user.email user.name",
        "r'raw'",
        "b'bytes'",
        "'unterminated",
        "'bad \\q escape'",
        "'\\u12'",
        "'line\nbreak'",
        "1 < 2 < 3",
        "user.a == user.b == user.c",
        "1 is 1",
        "1 is not None",
        "not",
        "1 and",
        "or 1",
        "1 not 2",
        "()",
        "(1",
        "1)",
        "",
        "   ",
        "# comment",
        "user.email # comment",
        "\\",
        "`id`",
        "$x",
        "@user",
        "user.email if True else 1",
        "Ellipsis",
        "...",
        "__builtins__",
        "globals()",
        "getattr(user, 'email')",
        "type(user)",
        "nan",
        "inf",
        "TRUE",
        "NULL",
        # unicode look-alikes and invisible characters
        "uѕer.email",  # Cyrillic dze
        "user.emaіl",  # Cyrillic i
        "ｕser.email",  # fullwidth u (NFKC would make it "user")
        "user․email",  # one dot leader
        "user\u200b.email",  # zero-width space
        "user.email\u00a0== 'x'",  # no-break space
        "user.email\u2028",  # line separator
        "𝐮𝐬𝐞𝐫.email",  # mathematical bold
        "１ + 1",  # fullwidth digit
        "user.email ＝＝ 'x'",  # fullwidth equals
        "user.email == ‘x’",  # curly quotes
        "\ufeffuser.email",  # byte order mark
    ],
)
def test_hostile_texts_are_refused_at_parse_time(text: str) -> None:
    with pytest.raises(ExpressionError) as raised:
        parse_expression(text)
    error = raised.value
    assert isinstance(error, ValueError)
    assert error.message
    assert error.position is None or 0 <= error.position <= len(text)


def test_limits_are_inclusive() -> None:
    assert parse_expression("(" * MAX_DEPTH + "1" + ")" * MAX_DEPTH).evaluate({}) == 1
    assert parse_expression("not " * MAX_DEPTH + "true").evaluate({}) is True
    # n literals joined by "+" are n + 1 nodes
    assert parse_expression("1" + " + 1" * (MAX_NODES - 2)).evaluate({}) == MAX_NODES - 1
    assert parse_expression('"' + "a" * (MAX_LENGTH - 2) + '"').evaluate({}) == "a" * (
        MAX_LENGTH - 2
    )


@pytest.mark.parametrize("text", ["1" * 400 + ".0", "9" * 999, "-" + "9" * 400 + ".5"])
def test_huge_numbers_never_crash(text: str) -> None:
    try:
        value = parse_expression(text).evaluate({})
    except ExpressionError:
        return
    assert isinstance(value, int) or (isinstance(value, float) and math.isfinite(value))


@pytest.mark.parametrize(
    ("text", "context"),
    [
        ("'a' < 1", {}),
        ("1 < 'a'", {}),
        ("null < 1", {}),
        ("true < 2", {}),
        ("input.attempts >= 3", {}),  # a missing number is null: an error, not false
        ("vars.l < vars.l", {"vars": {"l": [1]}}),
        ("user.email + 1", {"user": {"email": "a"}}),
        ("1 + user.email", {"user": {"email": "a"}}),
        ("user.missing + 'x'", {}),
        ("'x' + user.missing", {}),
        ("true + 1", {}),
        ("vars.l + vars.l", {"vars": {"l": [1]}}),
        ("vars.d + vars.d", {"vars": {"d": {}}}),
        ("1 in 'abc'", {}),
        ("'a' in 5", {}),
        ("'a' in vars.missing", {}),
        ("'a' in vars.d", {"vars": {"d": {"a": 1}}}),
        ("vars.big + 0.5", {"vars": {"big": 10**400}}),
        ("vars.f + vars.f", {"vars": {"f": 1.7e308}}),
        ("user.obj", {"user": {"obj": object()}}),
        ("user.t", {"user": {"t": (1, 2)}}),
    ],
)
def test_type_errors_raise_expression_error(text: str, context: dict[str, Any]) -> None:
    expression = parse_expression(text)
    with pytest.raises(ExpressionError) as raised:
        expression.evaluate(context)
    assert raised.value.position is None or 0 <= raised.value.position < len(text)


def test_huge_ints_stay_exact() -> None:
    big = 10**400
    context = {"vars": {"big": big}}
    assert parse_expression("vars.big + 1").evaluate(context) == big + 1
    assert parse_expression("vars.big > 1.5").evaluate(context) is True


def test_the_error_names_the_position() -> None:
    with pytest.raises(ExpressionError) as raised:
        parse_expression("user.email == os.name")
    assert raised.value.position == 14
    assert "os" in raised.value.message
    assert str(raised.value).endswith("(at position 14)")


def test_the_package_is_standard_library_only_and_never_evaluates_python() -> None:
    package = Path(expressions.__file__).parent
    modules = sorted(package.glob("*.py"))
    assert len(modules) >= 5  # __init__, tree, tokens, parser, evaluation
    imported: set[str] = set()
    for module in modules:
        for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                imported.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                assert node.level == 0
                name = node.module or ""
                if not name.startswith(f"{expressions.__name__}."):  # its own modules
                    imported.add(name.split(".")[0])
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                assert node.func.id not in {"eval", "exec", "compile", "__import__", "getattr"}
    assert imported <= set(sys.stdlib_module_names) | {"__future__"}
    assert not imported & {"ast", "builtins", "importlib", "operator"}


# --- fuzzing ------------------------------------------------------------------------------

KEYS = ["a", "b", "email", "x", "y"]

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.sampled_from(KEYS), children, max_size=3)
    ),
    max_leaves=10,
)
contexts = st.fixed_dictionaries(
    {root: st.dictionaries(st.sampled_from(KEYS), json_values, max_size=4) for root in ROOTS}
)

names = st.builds(
    lambda root, keys: ".".join([root, *keys]),
    st.sampled_from(ROOTS),
    st.lists(st.sampled_from(KEYS), max_size=2),
)
literals = st.one_of(
    st.integers(min_value=-(10**6), max_value=10**6).map(str),
    st.builds(lambda whole, frac: f"{whole}.{frac}", st.integers(-999, 999), st.integers(0, 999)),
    st.text(max_size=5).filter(lambda s: "\x00" not in s).map(json.dumps),
    st.text(alphabet="ab'\\\"", max_size=4).map(
        lambda s: "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"
    ),
    st.sampled_from(["true", "false", "null", "True", "False", "None"]),
)
BINARY = ["and", "or", "==", "!=", "<", "<=", ">", ">=", "in", "not in", "+"]
well_formed = st.recursive(
    names | literals,
    lambda inner: (
        st.builds(
            lambda left, op, right: f"({left}) {op} ({right})",
            inner,
            st.sampled_from(BINARY),
            inner,
        )
        | st.builds(
            lambda left, op, right: f"{left} {op} {right}",
            names | literals,
            st.sampled_from(BINARY),
            names | literals,
        )
        | inner.map(lambda operand: f"not ({operand})")
    ),
    max_leaves=10,
)
# Random text rarely gets past the tokenizer: a soup of grammar pieces reaches the parser.
PIECES = [
    *ROOTS, ".", "a", "email", "__class__", "(", ")", "not", "and", "or", "in", "==", "!=", "<",
    "<=", ">", ">=", "+", "-", "1", "0", "2.5", "'s'", '"t"', "'", '"', "\\", "true", "null",
    "None", "[", "]", ",", ":", "lambda", "if", "else", " ", "\x00", "é", "ѕ", "\ud800",
]  # fmt: skip
soup = st.lists(st.sampled_from(PIECES), max_size=30).map("".join)


def _is_json(value: object) -> bool:
    if value is None or isinstance(value, bool | int | str):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list):
        return all(_is_json(item) for item in value)
    if isinstance(value, dict):
        return all(isinstance(key, str) and _is_json(item) for key, item in value.items())
    return False


def _parse(text: str) -> Expression | ExpressionError:
    try:
        return parse_expression(text)
    except ExpressionError as error:
        return error


def _outcome(expression: Expression, context: dict[str, Any]) -> tuple[str, Any]:
    try:
        return "value", expression.evaluate(context)
    except ExpressionError as error:
        return "error", error.message


@FUZZ
@given(text=st.text(max_size=200) | soup)
def test_parsing_any_text_returns_an_expression_or_raises_expression_error(text: str) -> None:
    result = _parse(text)
    if isinstance(result, ExpressionError):
        assert result.position is None or 0 <= result.position <= len(text)
    else:
        expression = result
        assert expression.text == text
        assert all(name.split(".")[0] in ROOTS for name in expression.names())


@FUZZ
@given(text=soup | well_formed, context=contexts)
def test_evaluating_returns_json_or_raises_expression_error(
    text: str, context: dict[str, Any]
) -> None:
    expression = _parse(text)
    if isinstance(expression, ExpressionError):
        return
    kind, value = _outcome(expression, context)
    assert kind == "error" or _is_json(value)


@FUZZ
@given(text=well_formed, context=contexts)
def test_well_formed_expressions_parse_and_evaluate_deterministically(
    text: str, context: dict[str, Any]
) -> None:
    expression = parse_expression(text)
    assert parse_expression(text) == expression
    snapshot = copy.deepcopy(context)
    first = _outcome(expression, context)
    assert context == snapshot  # evaluation never mutates the context
    assert _outcome(expression, snapshot) == first
    assert _outcome(parse_expression(text), context) == first
    if first[0] == "value":
        assert _is_json(first[1])


@FUZZ
@given(value=st.text(max_size=300).filter(lambda s: "\x00" not in s), ascii_only=st.booleans())
def test_every_json_string_literal_round_trips(value: str, ascii_only: bool) -> None:
    literal = json.dumps(value, ensure_ascii=ascii_only)
    if len(literal) <= MAX_LENGTH:
        assert parse_expression(literal).evaluate({}) == value


@FUZZ
@given(number=st.integers(-(10**30), 10**30) | st.floats(allow_nan=False, allow_infinity=False))
def test_numbers_round_trip(number: float) -> None:
    text = str(number)
    if "e" in text or "inf" in text:
        return  # no exponents in the grammar
    assert parse_expression(text).evaluate({}) == number

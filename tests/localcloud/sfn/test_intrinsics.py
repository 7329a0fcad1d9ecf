import re
import uuid

import pytest

from localcloud.sfn import intrinsics
from localcloud.sfn.errors import DefinitionError, StatesError

NINE = {"inputArray": [1, 2, 3, 4, 5, 6, 7, 8, 9]}


# Examples from the AWS intrinsic functions documentation, with their documented results.
@pytest.mark.parametrize(("expression", "data", "expected"), [
    ("States.Format('Hello, my name is {}.', $.name)", {"name": "Arnav"}, "Hello, my name is Arnav."),
    ("States.Format($.template, $.name)", {"name": "Arnav", "template": "Hello, my name is {}."},
     "Hello, my name is Arnav."),
    ("States.StringToJson($.escapedJsonString)", {"escapedJsonString": '{"foo": "bar"}'}, {"foo": "bar"}),
    ("States.JsonToString($.unescapedJson)", {"unescapedJson": {"foo": "bar"}}, '{"foo":"bar"}'),
    ("States.Array($.Id)", {"Id": 123456}, [123456]),
    ("States.Array('Foo', 2020, $.someJson, null)", {"someJson": {"random": "abcdefg"}},
     ["Foo", 2020, {"random": "abcdefg"}, None]),
    ("States.ArrayPartition($.inputArray,4)", NINE, [[1, 2, 3, 4], [5, 6, 7, 8], [9]]),
    ("States.ArrayContains($.inputArray, $.lookingFor)", {**NINE, "lookingFor": 5}, True),
    ("States.ArrayContains($.inputArray, 10)", NINE, False),
    ("States.ArrayRange(1, 9, 2)", {}, [1, 3, 5, 7, 9]),
    ("States.ArrayRange(5, 1, -2)", {}, [5, 3, 1]),
    ("States.ArrayGetItem($.inputArray, $.index)", {**NINE, "index": 5}, 6),
    ("States.ArrayLength($.inputArray)", NINE, 9),
    ("States.ArrayUnique($.inputArray)", {"inputArray": [1, 2, 3, 3, 3, 3, 3, 3, 4]}, [1, 2, 3, 4]),
    ("States.Base64Encode($.input)", {"input": "Data to encode"}, "RGF0YSB0byBlbmNvZGU="),
    ("States.Base64Decode($.base64)", {"base64": "RGF0YSB0byBlbmNvZGU="}, "Data to encode"),
    ("States.Hash($.Data, $.Algorithm)", {"Data": "input data", "Algorithm": "SHA-1"},
     "aaff4a450a104cd177d28d18d74485e8cae074b7"),
    ("States.JsonMerge($.json1, $.json2, false)",
     {"json1": {"a": {"a1": 1, "a2": 2}, "b": 2}, "json2": {"a": {"a3": 1, "a4": 2}, "c": 3}},
     {"a": {"a3": 1, "a4": 2}, "b": 2, "c": 3}),
    ("States.MathAdd($.value1, $.step)", {"value1": 111, "step": -1}, 110),
    ("States.StringSplit($.inputString, $.splitter)", {"inputString": "1,2,3,4,5", "splitter": ","},
     ["1", "2", "3", "4", "5"]),
    ("States.StringSplit($.inputString, $.splitter)", {"inputString": "This.is+a,test=string", "splitter": ".+,="},
     ["This", "is", "a", "test", "string"]),
])
def test_documented_examples(expression, data, expected):
    assert intrinsics.evaluate(expression, data, None) == expected


def test_hash_algorithms():
    assert intrinsics.evaluate("States.Hash('abc', 'MD5')", {}, None) == "900150983cd24fb0d6963f7d28e17f72"
    assert intrinsics.evaluate("States.Hash('abc', 'SHA-256')", {}, None) == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")


def test_format_escapes_and_value_types():
    # in a definition the JSON text '\\{' is the two characters \{ : a literal brace
    assert intrinsics.evaluate(r"States.Format('\{{}\} \'{}\' {}', $.n, $.b, $.z)", {"n": 1.5, "b": True, "z": None},
                               None) == "{1.5} 'true' null"


def test_nesting_and_context_paths():
    expression = ("States.Format('{}-{}', States.ArrayGetItem(States.StringSplit($.arn, ':/'), 5), "
                  "$$.Execution.Name)")
    data = {"arn": "arn:aws:batch:us-east-1:123456789012:job/abc"}
    assert intrinsics.evaluate(expression, data, {"Execution": {"Name": "run7"}}) == "job-run7"


def test_uuid_and_random():
    assert uuid.UUID(intrinsics.evaluate("States.UUID()", {}, None)).version == 4
    draws = {intrinsics.evaluate("States.MathRandom(1, 4)", {}, None) for _ in range(200)}
    assert draws == {1, 2, 3}  # start inclusive, end exclusive
    seeded = [intrinsics.evaluate("States.MathRandom(0, 1000000, 7)", {}, None) for _ in range(2)]
    assert seeded[0] == seeded[1]


@pytest.mark.parametrize("expression", [
    "States.ArrayGetItem($.a, 3)",
    "States.ArrayLength($.s)",
    "States.MathAdd($.s, 1)",
    "States.MathAdd(1, null)",
    "States.MathRandom(1.4, 0.6)",  # both round to 1: an empty range
    "States.Format('{} {}', 1)",
    "States.StringToJson('not json')",
    "States.Hash('x', 'SHA-3')",
    "States.JsonMerge($.o, $.o, true)",
    "States.ArrayRange(0, 2000, 1)",
    "States.Base64Decode('***')",
    "States.ArrayLength($.a, $.a)",
])
def test_bad_arguments_fail_with_intrinsic_failure(expression):
    with pytest.raises(StatesError) as info:
        intrinsics.evaluate(expression, {"a": [1, 2], "s": "text", "o": {}}, None)
    assert info.value.error == "States.IntrinsicFailure"


def test_missing_path_argument_is_a_runtime_error():
    with pytest.raises(StatesError) as info:
        intrinsics.evaluate("States.ArrayLength($.nope)", {}, None)
    assert info.value.error == "States.Runtime"


@pytest.mark.parametrize("expression", ["States.Format('x'", "States.Nope(1)", "States.Array(1) junk", "States.Array(@)",
                                        """States.Format('say \\"hi\\"')"""])
def test_malformed_expressions_are_definition_errors(expression):
    with pytest.raises(DefinitionError, match=re.escape("intrinsic")):
        intrinsics.evaluate(expression, {}, None)
    with pytest.raises(DefinitionError, match=re.escape("intrinsic")):
        intrinsics.check(expression)


# Behaviour recorded on AWS where the documentation is silent or vague.
@pytest.mark.parametrize(("expression", "expected"), [
    ("States.MathAdd(1.5, 1)", 3),  # documented: non-integers are rounded to the nearest integer; halves go up
    ("States.MathAdd(2.4, 2.5)", 5),
    ("States.MathAdd($.f, $.g)", 0),  # 1.49 -> 1, -1.2 -> -1
    ("States.MathAdd(-2.5, 0)", -2),  # Java Math.round: half towards +infinity (no recording of this case)
])
def test_math_add_rounds_non_integers(expression, expected):
    assert intrinsics.evaluate(expression, {"f": 1.49, "g": -1.2}, None) == expected


def test_math_random_rounds_non_integer_bounds():
    draws = {intrinsics.evaluate("States.MathRandom(0.5, 3.4)", {}, None) for _ in range(200)}
    assert draws == {1, 2}  # [round(0.5), round(3.4)) = [1, 3)


def test_format_prints_objects_and_arrays_like_java():
    data = {"o": {"Arg1": 1, "Arg2": []}, "a": [1, 2], "n": {"x": {"y": ["s", None, True, 1.5]}, "e": {}}}
    assert intrinsics.evaluate("States.Format('{} {} {}', $.o, $.a, $.n)", data, None) == (
        "{Arg1=1, Arg2=[]} [1, 2] {x={y=[s, null, true, 1.5]}, e={}}")


@pytest.mark.parametrize("text", ["", "   ", "\n\t "])
def test_string_to_json_of_a_blank_string_is_null(text):
    assert intrinsics.evaluate("States.StringToJson($.s)", {"s": text}, None) is None

import pytest

from localcloud.sfn import paths
from localcloud.sfn.errors import DefinitionError, StatesError

DATA = {"a": {"b": [10, {"c": None}]}, "x y": 1, "vals": [0, 10, 20, 30, 40, 50]}


@pytest.mark.parametrize(("path", "expected"), [
    ("$", DATA),
    ("$.a.b[0]", 10),
    ("$.a.b[1].c", None),  # present, null
    ("$['x y']", 1),
    ("$.vals[-1]", 50),  # a single index is a definite path (Jayway), negative or not
    ('$["a"]["b"][1]', {"c": None}),
])
def test_reference_paths_select_one_node(path, expected):
    assert paths.read(path, DATA) == expected


@pytest.mark.parametrize("path", ["$.missing", "$.a.b[2]", "$.a.b[-3]", "$.a.b.c", "$.vals[0].x"])
def test_missing_reference_paths_raise(path):
    with pytest.raises(paths.PathNotFound):
        paths.read(path, DATA)
    assert not paths.exists(path, DATA)


def test_indefinite_paths_return_every_match():
    assert paths.read("$.vals[-3:]", DATA) == [30, 40, 50]  # ASL spec example
    assert paths.read("$.a.b[*]", DATA) == [10, {"c": None}]
    assert paths.read("$.nothing[*]", DATA) == []


def test_context_paths_read_the_context_object():
    assert paths.read("$$.Execution.Name", DATA, {"Execution": {"Name": "run-1"}}) == "run-1"
    with pytest.raises(paths.PathNotFound):
        paths.read("$$.Task.Token", DATA, {"Execution": {}})


def test_result_path_places_the_result_and_leaves_the_input_alone():
    original = {"master": {"detail": [1, 2, 3]}}
    out = paths.with_result(original, "$.master.result.sum", 6)
    assert out == {"master": {"detail": [1, 2, 3], "result": {"sum": 6}}}
    assert original == {"master": {"detail": [1, 2, 3]}}
    assert paths.with_result(original, "$", "replaced") == "replaced"
    assert paths.with_result(original, "$.master.detail[1]", "two") == {"master": {"detail": [1, "two", 3]}}


@pytest.mark.parametrize(("data", "path"), [({"a": "text"}, "$.a.b"), ([1, 2], "$.a"), ({"a": [1]}, "$.a[3]")])
def test_result_path_into_a_non_object_fails(data, path):
    with pytest.raises(StatesError) as info:
        paths.with_result(data, path, 1)
    assert info.value.error == "States.ResultPathMatchFailure"


def test_result_path_must_be_a_reference_path():
    with pytest.raises(DefinitionError):
        paths.with_result({}, "$.a[*]", 1)
    with pytest.raises(DefinitionError):
        paths.read("a.b", {})

"""ASL intrinsic functions (States.Format, States.Array, ...): a small parser and the functions."""

from __future__ import annotations

import base64
import binascii
import hashlib
import inspect
import json
import math
import random
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from localcloud.sfn import paths
from localcloud.sfn.errors import INTRINSIC_FAILURE, RUNTIME, DefinitionError, StatesError

MAX_ARRAY_RANGE = 1000  # AWS: ArrayRange may return at most 1000 items
MAX_BASE64_INPUT = 10_000  # AWS: Base64Encode/Decode inputs of at most 10,000 characters
HASH_ALGORITHMS = {"MD5": "md5", "SHA-1": "sha1", "SHA-256": "sha256", "SHA-384": "sha384", "SHA-512": "sha512"}


@dataclass(frozen=True)
class Literal:
    value: Any
    raw: str | None = None  # a string literal as written, escapes kept (States.Format reads its {} from it)


@dataclass(frozen=True)
class PathArg:
    path: str


@dataclass(frozen=True)
class Call:
    name: str
    args: tuple[Literal | PathArg | Call, ...]


def is_intrinsic(text: Any) -> bool:
    return isinstance(text, str) and text.startswith("States.")


_CALL_START = re.compile(r"States\.([A-Za-z0-9]+)\(")
_NUMBER = re.compile(r"-?\d+(\.\d+)?([eE][+-]?\d+)?")
_KEYWORDS = {"true": True, "false": False, "null": None}


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def fail(self, why: str) -> DefinitionError:
        return DefinitionError(f"invalid intrinsic function {self.text!r} at {self.pos}: {why}")

    def skip_spaces(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def call(self) -> Call:
        m = _CALL_START.match(self.text, self.pos)
        if m is None:
            raise self.fail("expected States.<Function>(")
        self.pos = m.end()
        args: list[Literal | PathArg | Call] = []
        self.skip_spaces()
        if self.text.startswith(")", self.pos):
            self.pos += 1
            return Call(m[1], ())
        while True:
            args.append(self.argument())
            self.skip_spaces()
            if self.text.startswith(",", self.pos):
                self.pos += 1
            elif self.text.startswith(")", self.pos):
                self.pos += 1
                return Call(m[1], tuple(args))
            else:
                raise self.fail("expected ',' or ')'")

    def argument(self) -> Literal | PathArg | Call:
        self.skip_spaces()
        if self.pos >= len(self.text):
            raise self.fail("unexpected end")
        char = self.text[self.pos]
        if char == "'":
            return self.string()
        if char == "$":
            return self.path()
        if self.text.startswith("States.", self.pos):
            return self.call()
        for word, value in _KEYWORDS.items():
            if self.text.startswith(word, self.pos):
                self.pos += len(word)
                return Literal(value)
        m = _NUMBER.match(self.text, self.pos)
        if m is None:
            raise self.fail("expected a string, number, path or intrinsic function")
        self.pos = m.end()
        return Literal(json.loads(m[0]))

    def string(self) -> Literal:
        start = self.pos = self.pos + 1
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char == "\\":
                if self.text.startswith('"', self.pos + 1):
                    # AWS refuses \" in a string literal when the state machine is created (recorded; the
                    # documented escapes are \' \{ \} and \\ only)
                    raise self.fail('\\" is not a valid escape in an intrinsic string literal')
                self.pos += 2
                continue
            if char == "'":
                raw = self.text[start:self.pos]
                self.pos += 1
                return Literal(re.sub(r"\\(.)", r"\1", raw), raw)
            self.pos += 1
        raise self.fail("unterminated string")

    def path(self) -> PathArg:
        start, depth, quote = self.pos, 0, None
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if quote:
                quote = None if char == quote else quote
            elif char in "'\"" and depth:
                quote = char
            elif char == "[":
                depth += 1
            elif char == "]":
                depth -= 1
            elif char in ",)" and depth == 0:
                break
            self.pos += 1
        return PathArg(self.text[start:self.pos].strip())


@lru_cache(maxsize=2048)
def parse(text: str) -> Call:
    parser = _Parser(text)
    call = parser.call()
    parser.skip_spaces()
    if parser.pos != len(text):
        raise parser.fail("trailing characters")
    return call


def check(text: str) -> None:
    """Raise DefinitionError for an expression AWS refuses when the state machine is created: one that
    does not parse, or that calls a function which does not exist."""
    pending: list[Literal | PathArg | Call] = [parse(text)]
    while pending:
        node = pending.pop()
        if isinstance(node, Call):
            if node.name not in FUNCTIONS:
                raise DefinitionError(f"unknown intrinsic function States.{node.name} in {text!r}")
            pending.extend(node.args)


def evaluate(text: str, data: Any, context: dict | None) -> Any:
    return _evaluate(parse(text), data, context)


def _evaluate(node: Literal | PathArg | Call, data: Any, context: dict | None) -> Any:
    if isinstance(node, Literal):
        return node.value
    if isinstance(node, PathArg):
        try:
            return paths.read(node.path, data, context)
        except paths.PathNotFound:
            raise StatesError(RUNTIME, f"The JSONPath {node.path} could not be found in the input "
                                       f"{json.dumps(data)}") from None
    function = FUNCTIONS.get(node.name)
    if function is None:
        raise DefinitionError(f"unknown intrinsic function States.{node.name}")
    if node.name == "Format":
        return _format(node, data, context)
    args = [_evaluate(arg, data, context) for arg in node.args]
    try:
        signature = inspect.signature(function)
        signature.bind(*args)
    except TypeError:
        raise _fail(f"States.{node.name}: wrong number of arguments ({len(args)})") from None
    return function(*args)


def _fail(message: str) -> StatesError:
    return StatesError(INTRINSIC_FAILURE, message)


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise _fail(message)


def _is_int(value: Any) -> bool:
    return not isinstance(value, bool) and (isinstance(value, int) or (isinstance(value, float) and value.is_integer()))


def _canonical(value: Any) -> str:
    """A key under which equal JSON values coincide (true and 1 stay apart, as in JSON)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _format(node: Call, data: Any, context: dict | None) -> str:
    _require(len(node.args) >= 1, "States.Format needs a template")
    template_node, *arg_nodes = node.args
    template = _evaluate(template_node, data, context)
    _require(isinstance(template, str), "States.Format: the template must be a string")
    # in a literal template \{ and \} are literal braces; a template read from a path has no escapes
    raw = template_node.raw if isinstance(template_node, Literal) and template_node.raw is not None else None
    values = [_evaluate(a, data, context) for a in arg_nodes]
    out, i, used = [], 0, 0
    text = raw if raw is not None else template
    while i < len(text):
        if raw is not None and text[i] == "\\" and i + 1 < len(text):
            out.append(text[i + 1])
            i += 2
        elif text.startswith("{}", i):
            _require(used < len(values), "States.Format: more {} than arguments")
            out.append(_java_text(values[used]))
            used += 1
            i += 2
        else:
            out.append(text[i])
            i += 1
    _require(used == len(values), "States.Format: more arguments than {}")
    return "".join(out)


def _java_text(value: Any) -> str:
    """A value as AWS prints it inside States.Format: objects and arrays the way Java's Map/List toString
    writes them ({Arg1=1, Arg2=[a, b]}, strings unquoted), recorded on AWS; scalars as JSON."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key}={_java_text(item)}" for key, item in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_java_text(item) for item in value) + "]"
    return value if isinstance(value, str) else json.dumps(value)


def _string_to_json(text: Any) -> Any:
    _require(isinstance(text, str), "States.StringToJson needs a string")
    if not text.strip():
        return None  # AWS: an empty or blank string parses to null (recorded), not an error
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise _fail(f"States.StringToJson: not JSON: {exc}") from None


def _json_to_string(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _array_partition(array: Any, size: Any) -> list:
    _require(isinstance(array, list), "States.ArrayPartition needs an array")
    _require(_is_int(size) and size > 0, "States.ArrayPartition: the chunk size must be a positive integer")
    size = int(size)
    return [array[i:i + size] for i in range(0, len(array), size)]


def _array_contains(array: Any, value: Any) -> bool:
    _require(isinstance(array, list), "States.ArrayContains needs an array")
    return any(_canonical(item) == _canonical(value) for item in array)


def _array_range(start: Any, end: Any, step: Any) -> list[int]:
    _require(all(_is_int(v) for v in (start, end, step)), "States.ArrayRange needs integers")
    start, end, step = int(start), int(end), int(step)
    _require(step != 0, "States.ArrayRange: the step must not be 0")
    values = list(range(start, end + (1 if step > 0 else -1), step))  # the end is inclusive
    _require(len(values) <= MAX_ARRAY_RANGE, f"States.ArrayRange: more than {MAX_ARRAY_RANGE} items")
    return values


def _array_get_item(array: Any, index: Any) -> Any:
    _require(isinstance(array, list), "States.ArrayGetItem needs an array")
    _require(_is_int(index) and 0 <= index < len(array), f"States.ArrayGetItem: index {index} out of range")
    return array[int(index)]


def _array_length(array: Any) -> int:
    _require(isinstance(array, list), "States.ArrayLength needs an array")
    return len(array)


def _array_unique(array: Any) -> list:
    _require(isinstance(array, list), "States.ArrayUnique needs an array")
    seen: dict[str, Any] = {}
    for item in array:
        seen.setdefault(_canonical(item), item)
    return list(seen.values())


def _base64_encode(text: Any) -> str:
    _require(isinstance(text, str) and len(text) <= MAX_BASE64_INPUT,
             f"States.Base64Encode needs a string of at most {MAX_BASE64_INPUT} characters")
    return base64.b64encode(text.encode()).decode()


def _base64_decode(text: Any) -> str:
    _require(isinstance(text, str) and len(text) <= MAX_BASE64_INPUT,
             f"States.Base64Decode needs a string of at most {MAX_BASE64_INPUT} characters")
    try:
        return base64.b64decode(text, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise _fail(f"States.Base64Decode: {exc}") from None


def _hash(data: Any, algorithm: Any) -> str:
    _require(isinstance(data, str), "States.Hash needs a string to hash")
    _require(algorithm in HASH_ALGORITHMS, f"States.Hash: algorithm must be one of {sorted(HASH_ALGORITHMS)}")
    return hashlib.new(HASH_ALGORITHMS[algorithm], data.encode()).hexdigest()


def _json_merge(left: Any, right: Any, deep: Any) -> dict:
    _require(isinstance(left, dict) and isinstance(right, dict), "States.JsonMerge needs two objects")
    _require(deep is False, "States.JsonMerge: only shallow merging (false) is supported")
    return {**left, **right}


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _round_half_up(value: int | float) -> int:
    """AWS docs: a non-integer argument of MathAdd/MathRandom is "round[ed] off to the nearest integer";
    recordings show halves going up (2.5 -> 3). floor(x + 0.5) is Java's Math.round, so -2.5 -> -2: no
    recording covers negative halves, and this is the rounding a Java service most likely uses."""
    return value if isinstance(value, int) else math.floor(value + 0.5)


def _math_random(start: Any, end: Any, seed: Any = None) -> int:
    _require(_is_number(start) and _is_number(end), "States.MathRandom needs numbers start < end")
    start, end = _round_half_up(start), _round_half_up(end)
    _require(start < end, "States.MathRandom needs start < end (after rounding to integers)")
    _require(seed is None or _is_int(seed), "States.MathRandom: the seed must be an integer")
    rng = random.Random(int(seed)) if seed is not None else random
    return rng.randrange(start, end)  # start inclusive, end exclusive


def _math_add(a: Any, b: Any) -> int:
    _require(_is_number(a) and _is_number(b), "States.MathAdd needs numbers")
    return _round_half_up(a) + _round_half_up(b)


def _string_split(text: Any, delimiters: Any) -> list[str]:
    _require(isinstance(text, str) and isinstance(delimiters, str), "States.StringSplit needs two strings")
    if not delimiters:
        return [text]
    # every character of the second argument is a delimiter; empty pieces are dropped
    return [piece for piece in re.split("[" + re.escape(delimiters) + "]", text) if piece]


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "Format": _format,  # evaluated by _format directly (needs the raw template)
    "StringToJson": _string_to_json,
    "JsonToString": _json_to_string,
    "Array": lambda *args: list(args),
    "ArrayPartition": _array_partition,
    "ArrayContains": _array_contains,
    "ArrayRange": _array_range,
    "ArrayGetItem": _array_get_item,
    "ArrayLength": _array_length,
    "ArrayUnique": _array_unique,
    "Base64Encode": _base64_encode,
    "Base64Decode": _base64_decode,
    "Hash": _hash,
    "JsonMerge": _json_merge,
    "MathRandom": _math_random,
    "MathAdd": _math_add,
    "StringSplit": _string_split,
    "UUID": lambda: str(uuid.uuid4()),
}

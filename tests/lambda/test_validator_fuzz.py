"""Fuzz each execution-input validator against moto: arbitrary JSON and mutated example inputs either fail
with InvalidInput and a short message, or are accepted and can run (tests/lambda/validator_fuzz.py has the
strategies and the oracle; `python -m tests.lambda.validator_fuzz 3000` runs a larger count)."""

from __future__ import annotations

import importlib
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

fuzz = importlib.import_module("tests.lambda.validator_fuzz")  # `lambda` is a keyword: no import statement
EXECUTION_NAMES, VALIDATORS, inputs, outcome = fuzz.EXECUTION_NAMES, fuzz.VALIDATORS, fuzz.inputs, fuzz.outcome

# a few seconds per validator: the suite stays fast, and every run draws new inputs
FUZZ = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                        HealthCheck.data_too_large])


def _fuzz(name: str) -> None:
    validator = VALIDATORS[name]

    @FUZZ
    @given(raw=inputs(validator.examples, validator.extra_paths), execution=EXECUTION_NAMES, multi_node=st.booleans())
    def check(raw: Any, execution: str, multi_node: bool) -> None:
        outcome(validator, raw, execution, multi_node)  # raises Finding for a crash or an unrunnable acceptance

    with validator.setup():
        check()


@pytest.mark.parametrize("name", sorted(VALIDATORS))
def test_the_examples_are_accepted(name):
    validator = VALIDATORS[name]
    with validator.setup():
        for example in validator.examples:
            assert outcome(validator, example, "example-run") == "accepted"


def test_lsrtm_validator_only_rejects_or_accepts_what_runs():
    _fuzz("lsrtm_validate_input")


def test_cosmicai_validator_only_rejects_or_accepts_what_runs():
    _fuzz("cosmic_validate_input")


def test_automon_validator_only_rejects_or_accepts_what_runs():
    _fuzz("automon_validate_input")

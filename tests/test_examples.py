"""Every example execution input is valid, and the synthetic one fits the synthetic dataset's defaults."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT
from workloads.lsrtm.params import RunParameters

EXAMPLES = sorted((REPO_ROOT / "examples").glob("lsrtm_*.json"))


def test_there_are_examples():
    assert {p.name for p in EXAMPLES} >= {"lsrtm_synthetic.json", "lsrtm_bp2004.json"}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_input_is_valid(path: Path):
    params = RunParameters.parse(json.loads(path.read_text()))
    assert params.batchsize <= params.data.num_shots


def test_bp2004_example_matches_the_published_setup():
    params = RunParameters.parse(json.loads((REPO_ROOT / "examples/lsrtm_bp2004.json").read_text()))
    # the paper's SGD run: 30 iterations of 80 of the 1348 shots; the step is the exact line search's
    assert (params.iterations, params.batchsize, params.data.num_shots) == (30, 80, 1348)
    assert (params.step_rule, params.step_size) == ("exact", 1.0)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_examples_use_the_step_rule_that_descends(path: Path):
    assert RunParameters.parse(json.loads(path.read_text())).step_rule == "exact"


COSMICAI_EXAMPLES = sorted((REPO_ROOT / "examples").glob("cosmicai_*.json"))


@pytest.mark.parametrize("path", COSMICAI_EXAMPLES, ids=lambda p: p.name)
def test_cosmicai_example_is_valid_for_a_default_deployment(path: Path):
    from stacks.config import AppConfig
    from stacks.cosmic.stack import EXAMPLE_INPUT
    from workloads.cosmic.job import parse_input

    request = parse_input(json.loads(path.read_text()))
    assert request.world_size <= AppConfig().fmi.max_world_size
    assert parse_input(EXAMPLE_INPUT).world_size <= AppConfig().fmi.max_world_size


def test_there_are_cosmicai_examples():
    assert {p.name for p in COSMICAI_EXAMPLES} >= {"cosmicai_synthetic.json"}

from __future__ import annotations

import math

import pytest

from workloads.common.execution_input import MAX_MESSAGE_CHARS
from workloads.lsrtm.params import InvalidInput, RunParameters
from workloads.lsrtm.shots import shot_for_array_index, shots_for_iteration

VALID = {
    "iterations": 3,
    "batchsize": 4,
    "model": {"key": "models/m.npz"},
    "data": {"prefix": "data/", "num_shots": 10},
}


def test_a_valid_input_parses_and_derives_the_seed_step():
    params = RunParameters.parse({**VALID, "step_rule": "fixed"})
    assert params.step_size == pytest.approx(1e-4)  # step_length 1, step_scaling -10000 as in the seed
    assert params.data.key(3) == "data/shot_3.segy"


def test_the_default_rule_is_the_exact_line_search_with_its_full_step():
    params = RunParameters.parse(VALID)
    assert (params.step_rule, params.step_size) == ("exact", 1.0)  # step_scaling plays no part
    assert RunParameters.parse({**VALID, "step_length": 1.5, "step_scaling": 3}).step_size == 1.5


@pytest.mark.parametrize("length", [2, 2.5, 1e300])
def test_the_exact_rule_refuses_a_step_length_that_cannot_descend(length):
    with pytest.raises(InvalidInput, match=r"step_length=\S+ with step_rule 'exact' must be in \(0, 2\)"):
        RunParameters.parse({**VALID, "step_length": length})
    RunParameters.parse({**VALID, "step_length": length, "step_rule": "fixed"})  # only the exact rule


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"batchsize": 11}, "exceeds data.num_shots"),
        ({"iterations": 0}, "iterations"),
        ({"step_scaling": 0}, "step_scaling"),
        ({"unknown": 1}, "unknown"),
        ({"model": {"water_key": "w.npy"}}, "model.key"),
        ({"physics": {"imaging": "magic"}}, "physics.imaging"),
        # 1e400 is valid JSON (inf): parameters.json would store null, which the next state cannot read
        ({"step_length": math.inf}, "step_length"),
        ({"step_scaling": -math.inf}, "step_scaling"),
        ({"step_length": math.nan}, "step_length"),
        ({"physics": {"peak_frequency_hz": math.inf}}, "physics.peak_frequency_hz"),
        ({"physics": {"aperture_buffer_m": math.inf}}, "physics.aperture_buffer_m"),
        ({"step_length": 1e300, "step_scaling": 1e300, "step_rule": "fixed"}, "step size inf"),  # finite factors
        # keys botocore cannot send (ParamValidationError, UnicodeEncodeError) or S3 cannot take
        ({"model": {"key": ""}}, "model.key"),
        ({"model": {"key": "m\ud800.npz"}}, "model.key"),
        ({"model": {"key": "models/m.npz", "water_key": "w\x00.npy"}}, "model.water_key"),
        ({"model": {"key": "x" * 1025}}, "model.key"),
        ({"data": {"prefix": "d\ud800/", "num_shots": 10}}, "data"),
        ({"data": {"prefix": "d" * 1020, "num_shots": 10}}, "data"),
    ],
)
def test_bad_input_is_refused_with_every_problem_named(change, message):
    with pytest.raises(InvalidInput, match=message):
        RunParameters.parse({**VALID, **change})


def test_a_rejection_names_the_field_without_echoing_the_input():
    huge = "k" * 600_000
    with pytest.raises(InvalidInput) as err:
        RunParameters.parse({**VALID, huge: 1, "model": {"key": huge}, **{f"x{i}": i for i in range(1000)}})
    message = str(err.value)
    assert len(message) <= MAX_MESSAGE_CHARS and "model.key" in message and "more" in message


def test_not_an_object():
    with pytest.raises(InvalidInput, match="JSON object"):
        RunParameters.parse([1, 2])


def test_shots_are_deterministic_distinct_and_vary_by_iteration():
    a = shots_for_iteration(seed=7, iteration=1, batchsize=8, num_shots=20)
    assert a == shots_for_iteration(seed=7, iteration=1, batchsize=8, num_shots=20)
    assert len(set(a)) == 8 and all(0 <= s < 20 for s in a)
    assert a != shots_for_iteration(seed=7, iteration=2, batchsize=8, num_shots=20)
    assert shots_for_iteration(seed=0, iteration=1, batchsize=20, num_shots=20) == list(range(20))
    assert shot_for_array_index(a, 0) == a[0]
    with pytest.raises(ValueError):
        shot_for_array_index(a, 8)

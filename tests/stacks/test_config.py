"""Configuration: defaults are deployable, impossible settings fail with a message naming the setting."""

from __future__ import annotations

import pytest

from stacks.config import AppConfig, ConfigError


def _context(**values):
    return lambda key: values.get(key)


def test_defaults_match_the_seed_compute_environments():
    cfg = AppConfig.parse({})
    envs = {ce.key: ce for ce in cfg.batch.compute_environments}
    assert envs["m4-spot-8"].instance_types == ["m4.4xlarge"] and envs["m4-spot-8"].spot
    assert envs["m4-spot-8"].usable_cpus_per_instance() == 8
    assert envs["r5-spot-24"].usable_cpus_per_instance() == 24
    assert envs["r5-spot-48"].usable_cpus_per_instance() == 48
    assert envs["r5-mnp-24"].multi_node and not envs["r5-mnp-24"].spot
    assert envs["c5n-mnp-18"].usable_cpus_per_instance() == 18 and envs["c5n-mnp-18"].multi_node


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"batch": {"gradient_job": {"queue": "m4-spot-8", "vcpus": 16, "memory_mib": 30000}}}, "needs 16 vCPUs"),
        ({"batch": {"gradient_job": {"queue": "m4-spot-8", "vcpus": 8, "memory_mib": 64000}}}, "needs 64000 MiB"),
        ({"batch": {"gradient_job": {"queue": "nope", "vcpus": 8, "memory_mib": 1000}}}, "names no compute environment"),
        (
            {"batch": {"compute_environments": [{"key": "x", "instance_types": ["r5.24xlarge"], "spot": True,
                                                  "max_vcpus": 960, "multi_node": True}]}},
            "cannot run on Spot",
        ),
        (
            {"batch": {"compute_environments": [{"key": "x", "instance_types": ["m9.huge"], "spot": True,
                                                  "max_vcpus": 64}]}},
            "unknown instance type 'm9.huge'",
        ),
        (
            {"batch": {"compute_environments": [{"key": "x", "instance_types": ["m4.4xlarge"], "spot": True,
                                                  "max_vcpus": 64, "online_cores": 12}]}},
            "online_cores=12 but m4.4xlarge has 8 physical cores",
        ),
        ({"batch": {"vpc_cidr": "10.20.0.0/33"}}, "not an IPv4 network"),
        ({"batch": {"vpc_cidr": "10.20.0.1/16"}}, "not an IPv4 network"),
        ({"batch": {"vpc_cidr": "8.8.0.0/16"}}, "not a private"),
        ({"batch": {"nat_gateways": 2, "max_azs": 1}}, "exceeds the number of AZs"),
        ({"batch": {"log_retention_days": 10}}, "not a CloudWatch Logs value"),
        ({"prefix": "Bad_Prefix"}, "prefix 'Bad_Prefix'"),
        ({"batch": {"no_such_setting": 1}}, "batch.no_such_setting"),
    ],
)
def test_impossible_settings_are_refused_with_a_clear_message(raw, message):
    with pytest.raises(ConfigError) as err:
        AppConfig.parse(raw)
    assert message in str(err.value)


def test_mpi_job_must_target_a_multi_node_environment():
    with pytest.raises(ConfigError, match="not a multi_node compute environment"):
        AppConfig.parse({"batch": {"mpi_job": {"queue": "r5-spot-24", "vcpus": 24, "memory_mib": 180000}}})


def test_mpi_job_nodes_must_fit_the_environment_at_once():
    # r5-mnp-24: max_vcpus 1920 / 96 vCPUs per r5.24xlarge = 20 instances
    with pytest.raises(ConfigError, match="mpi_job needs 21 nodes but compute environment 'r5-mnp-24' runs at most 20"):
        AppConfig.parse({"batch": {"mpi_job": {"queue": "r5-mnp-24", "vcpus": 24, "memory_mib": 180000,
                                               "num_nodes": 21}}})


def test_job_limits_are_those_of_each_jobs_compute_environment():
    batch = AppConfig().batch
    assert batch.job_limits() == {
        "array": {"compute_environment": "m4-spot-8", "job_memory_mib": 62000, "online_cpus": 8,
                  "usable_memory_mib": 62259, "max_nodes": 128},
        "multi_node": {"compute_environment": "r5-mnp-24", "job_memory_mib": 180000, "online_cpus": 24,
                       "usable_memory_mib": 747110, "max_nodes": 20},
    }


def test_context_sections_accept_json_strings_and_dotted_overrides():
    cfg = AppConfig.from_context(
        _context(prefix="lab2", batch='{"nat_gateways": 0}', **{"batch.log_retention_days": "90"})
    )
    assert cfg.prefix == "lab2"
    assert cfg.batch.nat_gateways == 0
    assert cfg.batch.log_retention_days == 90
    assert cfg.name("m4-spot-8") == "lab2-m4-spot-8"


def test_a_section_that_is_not_an_object_is_refused():
    with pytest.raises(ConfigError, match="must be a JSON object"):
        AppConfig.from_context(_context(batch="[1, 2]"))

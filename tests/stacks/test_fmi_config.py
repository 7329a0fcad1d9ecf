"""The fmi configuration section: defaults from the one source of truth, and impossible settings refused."""

from __future__ import annotations

import pytest

from stacks.config import AppConfig, ConfigError
from workloads.cosmic.constants import DEFAULT_OP_TIMEOUT_S, HEALTH_PORT, MAX_PER_ADDRESS, RENDEZVOUS_PORT


def _fmi(**values):
    return AppConfig.from_context({f"fmi.{k}": v for k, v in values.items()}.get).fmi


def test_defaults_come_from_the_runtime_constants():
    fmi = AppConfig().fmi
    assert (fmi.rendezvous_port, fmi.health_port, fmi.op_timeout_s) == (RENDEZVOUS_PORT, HEALTH_PORT, DEFAULT_OP_TIMEOUT_S)
    assert fmi.executor_memory_mib <= 3008  # what a new account may use before a quota increase


def test_dotted_context_overrides_single_fields():
    fmi = _fmi(max_world_size="512", executor_memory_mib=10240)
    assert (fmi.max_world_size, fmi.executor_memory_mib) == (512, 10240)


@pytest.mark.parametrize(("values", "message"), [
    ({"max_world_size": 10_001}, "fmi.max_world_size"),
    ({"executor_memory_mib": 20000}, "Lambda memory"),
    ({"executor_timeout_s": 901}, "fmi.executor_timeout_s"),
    ({"op_timeout_s": 900}, "must be below executor_timeout_s"),
    ({"rendezvous_cpu": 512, "rendezvous_memory_mib": 512}, "rendezvous"),
    ({"health_port": RENDEZVOUS_PORT}, "must differ"),
    ({"log_retention_days": 8}, "CloudWatch Logs value"),
    ({"vpc_cidr": "8.8.0.0/16"}, "private"),
    ({"nat_gateways": 3, "az_count": 2}, "exceeds az_count"),
    ({"max_world_size": 128, "rendezvous_max_per_address": 100}, "share a NAT address"),
    ({"max_world_size": 128, "rendezvous_max_connections": 200}, "leaves no room"),
])
def test_impossible_settings_are_refused_with_the_setting_named(values, message):
    with pytest.raises(ConfigError, match=message):
        _fmi(**values)


def test_the_per_address_cap_grows_with_the_largest_world():
    assert _fmi().rendezvous_per_address == MAX_PER_ADDRESS  # 64 ranks: the floor
    assert _fmi(max_world_size=1000).rendezvous_per_address == 2000  # two whole worlds behind one address
    assert _fmi(max_world_size=8, rendezvous_max_connections=100).rendezvous_per_address == 100  # nor above the total
    assert _fmi(rendezvous_max_per_address=300).rendezvous_per_address == 300

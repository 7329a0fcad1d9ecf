"""Rank settings from invocation payloads, unique communicator names, and backend selection
(including the native FMI adapter, driven here by a stand-in module since FMI is on no registry)."""

from __future__ import annotations

import json
import sys
import types
from typing import Any

import numpy as np
import pytest

from workloads.cosmic import native_fmi
from workloads.cosmic.backends import open_communicator, open_from_payload
from workloads.cosmic.communicator import Communicator
from workloads.cosmic.errors import CommunicatorError
from workloads.cosmic.payload import CommSettings, PayloadError, check_comm_name, new_comm_name

BASE = {"rank": 1, "world_size": 4, "comm_name": "cosmicai-abc-", "rendezvous_host": "127.0.0.1"}


def test_course_style_payload_with_strings_and_upper_case_keys() -> None:
    s = CommSettings.from_payload({"RANK": "3", "WORLD_SIZE": "8", "COMM_NAME": "run42-",
                                   "RENDEZVOUS_HOST": "rendezvous.example.org", "S3_BUCKET": "ignored"})
    assert (s.rank, s.world_size, s.comm_name, s.rendezvous_host, s.rendezvous_port) == (
        3, 8, "run42-", "rendezvous.example.org", 10000)
    assert s.timeout_s == 300.0 and s.backend == "auto"


def test_optional_fields() -> None:
    s = CommSettings.from_payload({**BASE, "rendezvous_port": "10500", "timeout_s": 12.5, "backend": "Python"})
    assert (s.rendezvous_port, s.timeout_s, s.backend) == (10500, 12.5, "python")


@pytest.mark.parametrize(("change", "message"), [
    ({"rank": None}, "missing 'rank'"),
    ({"rank": 4}, "outside"),
    ({"rank": -1}, "outside"),
    ({"rank": "one"}, "integer"),
    ({"rank": 1.5}, "integer"),
    ({"rank": True}, "integer"),
    ({"world_size": 0}, "at least 1"),
    ({"world_size": 9}, "above the configured limit"),
    ({"comm_name": "fmi pair"}, "must match"),
    ({"comm_name": "x" * 98}, "too long"),
    ({"rendezvous_host": " "}, "empty"),
    ({"rendezvous_port": 70000}, "not a TCP port"),
    ({"timeout_s": 0}, "positive"),
    ({"timeout_s": "nan"}, "finite"),
    ({"backend": "mpi"}, "backend"),
])
def test_bad_payloads_are_refused_clearly(change: dict[str, Any], message: str) -> None:
    payload = {k: v for k, v in {**BASE, **change}.items() if v is not None}
    with pytest.raises(PayloadError, match=message):
        CommSettings.from_payload(payload, max_world_size=8)
    with pytest.raises(PayloadError):
        CommSettings.from_payload(["not", "a", "dict"])  # type: ignore[arg-type]


def test_comm_names_are_unique_per_execution_and_fit_tcpunch() -> None:
    a, b = new_comm_name(), new_comm_name()
    assert a != b
    assert new_comm_name("arn:aws:states:us-east-1:1:execution:sm:run-1") == new_comm_name(
        "arn:aws:states:us-east-1:1:execution:sm:run-1")
    assert new_comm_name("exec-1") != new_comm_name("exec-2")
    name = new_comm_name("exec-1")
    assert check_comm_name(name, 1000) == name
    assert len(f"{name}998_999") <= 100
    with pytest.raises(PayloadError):
        check_comm_name("x" * 90, 10**5)


def test_any_execution_name_gives_a_comm_name() -> None:
    # JSON can carry a lone surrogate ("\ud800"); the validator hashed it with a plain encode() and crashed
    assert new_comm_name("exec-\ud800") != new_comm_name("exec-\ud801")
    assert check_comm_name(new_comm_name("exec-\ud800"), 8)


def fake_fmi(record: dict[str, Any]) -> types.ModuleType:
    """A stand-in with FMI's Python API shape that records what it is asked."""
    mod = types.ModuleType("fmi")
    mod.datatypes = types.SimpleNamespace(int="int", double="double", int_list="int_list", double_list="double_list")
    mod.op = types.SimpleNamespace(sum="sum", prod="prod", max="max", min="min", custom="custom")
    mod.hints = types.SimpleNamespace(fast="fast", cheap="cheap")
    mod.types = lambda *args: ("types", *args)
    mod.func = lambda *args: ("func", *args)

    class FakeComm:
        def __init__(self, rank: int, size: int, config: str, name: str, mem: int) -> None:
            with open(config) as f:
                record["config"] = json.load(f)
            record["init"] = (rank, size, name, mem)

        def hint(self, h: str) -> None:
            record["hint"] = h

        def allreduce(self, value: Any, func: Any, t: Any) -> Any:
            record["allreduce"] = (value, func, t)
            return [v * 2 for v in value]

        def gather(self, value: Any, root: int, t: Any) -> Any:
            record["gather"] = (value, root, t)
            return [value, value + 1]

        def recv(self, src: int, t: Any) -> Any:
            return 7

    mod.Communicator = FakeComm
    return mod


def test_native_fmi_is_chosen_when_importable(monkeypatch: pytest.MonkeyPatch) -> None:
    record: dict[str, Any] = {}
    monkeypatch.setitem(sys.modules, "fmi", fake_fmi(record))
    comm = open_from_payload({**BASE, "timeout_s": 30, "rendezvous_host": "localhost"})
    try:
        assert comm.backend == "fmi"
        assert record["init"] == (1, 4, "cosmicai-abc-", 10240) and record["hint"] == "fast"
        direct = record["config"]["backends"]["Direct"]
        assert direct == {"enabled": "true", "host": "127.0.0.1", "port": "10000", "max_timeout": "30000"}
        assert record["config"]["backends"]["S3"]["enabled"] == "false"
        out = comm.allreduce(np.array([[1.0, 2.0]]), "sum")  # arrays travel as double lists
        assert record["allreduce"] == ([1.0, 2.0], ("func", "sum"), ("types", "double_list", 2))
        assert out.shape == (1, 2) and out.tolist() == [[2.0, 4.0]]
        assert comm.gather(5, root=1) == [5, 6] and record["gather"][2] == ("types", "int")
        assert comm.recv(0, like=1) == 7
        with pytest.raises(TypeError, match="like="):
            comm.recv(0)
    finally:
        comm.close()


def test_python_backend_when_fmi_is_absent_unrelated_or_not_wanted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "fmi", None)  # import fails
    assert native_fmi.load_native_fmi() is None
    assert isinstance(open_from_payload(BASE), Communicator)
    with pytest.raises(CommunicatorError, match="not importable"):
        open_from_payload({**BASE, "backend": "fmi"})
    monkeypatch.setitem(sys.modules, "fmi", types.ModuleType("fmi"))  # e.g. a weather client named fmi
    assert native_fmi.load_native_fmi() is None
    assert isinstance(open_from_payload(BASE), Communicator)
    monkeypatch.setitem(sys.modules, "fmi", fake_fmi({}))
    chosen = open_communicator(CommSettings.from_payload({**BASE, "backend": "python"}))
    assert isinstance(chosen, Communicator) and chosen.backend == "python"

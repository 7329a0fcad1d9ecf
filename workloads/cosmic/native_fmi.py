"""Adapter to FMI's native Python module (`fmi.so`, built from spcl/fmi) when an image carries it.

FMI is on no package registry, so the image takes it as a build argument; this adapter gives it the same
method names as our Communicator. What FMI can carry is narrower: ints, doubles and lists of them
(arrays travel as lists and are rebuilt with their shape and dtype), and a receiver must state what it
expects (`like=` an example), because FMI's `recv`, `bcast` and `scatter` need the type and count.

Beware: unrelated PyPI packages are also imported as `fmi`; `load_native_fmi` accepts a module only if
it has FMI's API (Communicator, types, datatypes, func, op, hints).
"""

from __future__ import annotations

import importlib
import json
import os
import tempfile
from types import ModuleType
from typing import Any

import numpy as np

from workloads.cosmic.reduce_ops import ReduceOp, resolve
from workloads.cosmic.rendezvous_client import resolve_ipv4

FMI_API = ("Communicator", "types", "datatypes", "func", "op", "hints")


def load_native_fmi() -> ModuleType | None:
    """FMI's module when importable and genuine, else None (never raises)."""
    try:
        module = importlib.import_module("fmi")
    except Exception:  # noqa: BLE001 - a broken fmi.so (wrong CPython minor version) means "not available"
        return None
    return module if all(hasattr(module, name) for name in FMI_API) else None


def fmi_config(host: str, port: int, timeout_s: float) -> dict:
    """FMI's JSON config with only the Direct channel enabled (values are strings, as FMI parses them)."""
    return {
        "backends": {
            "S3": {"enabled": "false", "bucket_name": "unused", "s3_region": "us-east-1", "timeout": "100",
                   "max_timeout": "1000"},
            "Redis": {"enabled": "false", "host": "127.0.0.1", "port": "6379", "timeout": "1", "max_timeout": "1000"},
            # upstream FMI needs an IPv4 literal (inet_addr); resolving here works with every build
            "Direct": {"enabled": "true", "host": resolve_ipv4(host), "port": str(port),
                       "max_timeout": str(int(timeout_s * 1000))},
        },
        "model": {
            "FaaS": {"gib_second_price": "0.0000166667"},
            "S3": {"bandwidth": "50", "overhead": "40.4", "transfer_price": "0", "download_price": "0.00000043",
                   "upload_price": "0.0000054"},
            "Redis": {"bandwidth_single": "100", "bandwidth_multiple": "400", "overhead": "5.2",
                      "instance_price": "0.0038", "requests_per_hour": "1000", "include_infrastructure_costs": "true"},
            "Direct": {"bandwidth": "400", "overhead": "0.34", "vm_price": "0.0134", "requests_per_hour": "1000",
                       "include_infrastructure_costs": "true", "resolve_host_dns": "false"},
        },
    }


class NativeFmiCommunicator:
    """Our Communicator's methods on top of `fmi.Communicator` (Direct channel, `fast` hint)."""

    backend = "fmi"

    def __init__(self, fmi: ModuleType, rank: int, world_size: int, comm_name: str, host: str, port: int,
                 timeout_s: float, memory_mib: int = 10240) -> None:
        self.rank, self.world_size, self.comm_name, self.timeout_s = rank, world_size, comm_name, timeout_s
        self._fmi = fmi
        fd, self.config_path = tempfile.mkstemp(prefix="fmi-", suffix=".json")
        with os.fdopen(fd, "w") as f:
            json.dump(fmi_config(host, port, timeout_s), f)
        self._comm = fmi.Communicator(rank, world_size, self.config_path, comm_name, memory_mib)
        self._comm.hint(fmi.hints.fast)

    def close(self) -> None:
        self._comm = None
        if os.path.exists(self.config_path):
            os.unlink(self.config_path)

    def __enter__(self) -> NativeFmiCommunicator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- type plumbing -------------------------------------------------------------------------------
    def _types(self, example: Any, count: int | None = None) -> Any:
        dt = self._fmi.datatypes
        if isinstance(example, bool):
            raise TypeError("FMI has no bool type")
        if isinstance(example, int | np.integer):
            return self._fmi.types(dt.int)
        if isinstance(example, float | np.floating):
            return self._fmi.types(dt.double)
        values = np.asarray(example)
        n = values.size if count is None else count
        if values.dtype.kind in "iu":
            return self._fmi.types(dt.int_list, n)
        if values.dtype.kind == "f":
            return self._fmi.types(dt.double_list, n)
        raise TypeError(f"FMI carries ints, doubles and lists of them, not {values.dtype}")

    @staticmethod
    def _out(value: Any) -> Any:
        if isinstance(value, np.ndarray):
            return value.reshape(-1).tolist()
        if isinstance(value, np.generic):
            return value.item()
        return value

    @staticmethod
    def _back(value: Any, like: Any) -> Any:
        if isinstance(like, np.ndarray):
            return np.asarray(value, dtype=like.dtype).reshape(like.shape)
        return value

    def _func(self, op: str | ReduceOp | Any) -> Any:
        rop = resolve(op)
        fmi_op = self._fmi.op
        builtin = {"sum": fmi_op.sum, "prod": fmi_op.prod, "max": fmi_op.max, "min": fmi_op.min}
        if rop.ufunc is not None:
            return self._fmi.func(builtin[rop.name])
        return self._fmi.func(fmi_op.custom, rop.fn, rop.commutative, rop.associative)

    # -- operations ----------------------------------------------------------------------------------
    def send(self, obj: Any, dst: int) -> None:
        self._comm.send(self._out(obj), dst, self._types(obj))

    def recv(self, src: int, like: Any = None) -> Any:
        if like is None:
            raise TypeError("native FMI needs the message type: recv(src, like=example)")
        return self._back(self._comm.recv(src, self._types(like)), like)

    def bcast(self, obj: Any, root: int = 0, like: Any = None) -> Any:
        example = obj if self.rank == root else like
        if example is None:
            raise TypeError("native FMI needs the message type on non-root ranks: bcast(None, root, like=example)")
        value = self._comm.bcast(self._out(obj) if self.rank == root else None, root, self._types(example))
        return self._back(value, example)

    def barrier(self) -> None:
        self._comm.barrier()

    def gather(self, obj: Any, root: int = 0) -> list[Any] | None:
        values = self._comm.gather(self._out(obj), root, self._types(obj))
        if self.rank != root:
            return None
        if not isinstance(values, list) or np.ndim(obj) == 0:
            return list(values)
        return [self._back(part, obj) for part in np.split(np.asarray(values), self.world_size)]

    def scatter(self, objs: Any, root: int = 0, like: Any = None) -> Any:
        if self.rank == root:
            total = np.asarray(objs)
            values = self._comm.scatter(total.reshape(-1).tolist(), root, self._types(total))
            return self._back(values, np.split(total, self.world_size)[0])
        if like is None:
            raise TypeError("native FMI needs one rank's part on non-root ranks: scatter(None, root, like=part)")
        part = np.asarray(like)
        values = self._comm.scatter(None, root, self._types(part, part.size * self.world_size))
        return self._back(values, part)

    def reduce(self, obj: Any, op: Any = "sum", root: int = 0) -> Any:
        value = self._comm.reduce(self._out(obj), root, self._func(op), self._types(obj))
        return self._back(value, obj) if self.rank == root else None

    def allreduce(self, obj: Any, op: Any = "sum") -> Any:
        return self._back(self._comm.allreduce(self._out(obj), self._func(op), self._types(obj)), obj)

    def scan(self, obj: Any, op: Any = "sum") -> Any:
        return self._back(self._comm.scan(self._out(obj), self._func(op), self._types(obj)), obj)

"""Choose the communicator implementation for a rank: FMI's native module when present, else ours."""

from __future__ import annotations

from typing import Any

from workloads.cosmic.communicator import Communicator
from workloads.cosmic.errors import CommunicatorError
from workloads.cosmic.native_fmi import NativeFmiCommunicator, load_native_fmi
from workloads.cosmic.payload import CommSettings


def open_communicator(settings: CommSettings) -> Communicator | NativeFmiCommunicator:
    """backend "auto": native FMI if importable, else pure Python; "fmi": native or an error; "python": ours.
    Native FMI cannot sign its hello: its ranks rely on the unguessable communicator name alone."""
    if settings.backend in ("auto", "fmi"):
        fmi = load_native_fmi()
        if fmi is not None:
            return NativeFmiCommunicator(fmi, settings.rank, settings.world_size, settings.comm_name,
                                         settings.rendezvous_host, settings.rendezvous_port, settings.timeout_s)
        if settings.backend == "fmi":
            raise CommunicatorError("backend 'fmi' was requested but the native fmi module is not importable "
                                    "(build the image with FMI, or use backend 'auto' or 'python')")
    return Communicator(settings.rank, settings.world_size, settings.comm_name, settings.rendezvous_host,
                        settings.rendezvous_port, settings.timeout_s, settings.comm_secret)


def open_from_payload(payload: dict[str, Any], max_world_size: int | None = None) -> Communicator | NativeFmiCommunicator:
    """The communicator described by a Lambda invocation payload (see payload.CommSettings)."""
    return open_communicator(CommSettings.from_payload(payload, max_world_size))

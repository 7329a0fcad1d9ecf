"""Optimal checkpointing (Griewank's Revolve, via pyrevolve) for the adjoint pass.

pyrevolve drives two step functions: the forward step ``c`` (Devito iteration ``t = c``, computing
``u[c+1]``) and the reverse step ``c`` (adjoint iteration ``t = c``, which images with ``u[c-1]``). A
checkpoint at step ``c`` is the state before that step: the time levels ``u[c]`` and ``u[c-1]`` of the
3-level buffer. Kernels are called through ``cfunction`` with pre-processed arguments, as Devito's own
checkpointing does, because ``Operator.apply`` costs milliseconds per call and the schedule makes
thousands of single-step calls.
"""

from __future__ import annotations

import numpy as np
from pyrevolve import Checkpoint, Revolver
from pyrevolve import Operator as RevolveOperator

__all__ = ["KernelStepper", "BufferCheckpoint", "run_checkpointed"]


class KernelStepper(RevolveOperator):
    """Runs Devito iterations ``t_start .. t_end - 1`` of a compiled operator."""

    def __init__(self, op, **kwargs) -> None:
        self.op = op
        self.args = op._prepare_arguments(**kwargs)
        self._order = [p.name for p in op.parameters]
        self.calls = 0
        self.steps = 0

    def apply(self, t_start: int, t_end: int) -> None:
        self.args["time_m"] = t_start
        self.args["time_M"] = t_end - 1
        self.op.cfunction(*[self.args[name] for name in self._order])
        self.calls += 1
        self.steps += t_end - t_start


class BufferCheckpoint(Checkpoint):
    """The two live time levels of a 3-level Devito buffer (this rank's part, halo included)."""

    def __init__(self, field) -> None:
        self.buffer = np.asarray(field._data_allocated)
        if self.buffer.shape[0] != 3:
            raise ValueError("checkpointing expects a time_order=2 field with a 3-level buffer")

    @property
    def dtype(self):
        return self.buffer.dtype

    @property
    def size(self) -> int:
        return 2 * int(np.prod(self.buffer.shape[1:]))

    def get_data(self, timestep: int) -> list[np.ndarray]:
        return [self.buffer[timestep % 3], self.buffer[(timestep - 1) % 3]]

    def get_data_location(self, timestep: int) -> list[np.ndarray]:
        return self.get_data(timestep)


def run_checkpointed(forward: KernelStepper, reverse: KernelStepper, checkpoint: BufferCheckpoint,
                     n_checkpoints: int, n_steps: int) -> dict[str, int]:
    """Forward sweep with checkpoints, then the reverse sweep; returns the kernel calls and steps made."""
    revolver = Revolver(checkpoint, forward, reverse, n_checkpoints, n_steps)
    revolver.apply_forward()
    revolver.apply_reverse()
    return {"forward_calls": forward.calls, "forward_steps": forward.steps, "reverse_steps": reverse.steps,
            "n_checkpoints": n_checkpoints}

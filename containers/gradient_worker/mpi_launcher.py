"""Start one MPI program across the nodes of an AWS Batch multi-node parallel job, without SSH.

Every node runs this. The main node starts MPICH's `mpiexec -launcher manual`, which prints the proxy
command each node must run; it writes those commands to the job's folder on the shared EFS scratch,
starts its own proxy, and waits for mpiexec. The other nodes wait for their command, point it at the
main node's address and run it. (The original baked an SSH host key into its image for this.)

Environment: AWS_BATCH_JOB_ID, AWS_BATCH_JOB_NODE_INDEX, AWS_BATCH_JOB_MAIN_NODE_INDEX,
AWS_BATCH_JOB_NUM_NODES, AWS_BATCH_JOB_MAIN_NODE_PRIVATE_IPV4_ADDRESS (children), SCRATCH_DIR (/efs);
MPI_PROGRAM (default: the gradient worker) and MPI_LAUNCH_TIMEOUT_S (default 600).
"""

from __future__ import annotations

import os
import re
import shlex
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

DEFAULT_PROGRAM = f"{sys.executable} {Path(__file__).with_name('worker.py')}"
CONTROL_PORT = re.compile(r"--control-port \S+:(\d+)")


def job_folder(env: dict) -> Path:
    job_id = env["AWS_BATCH_JOB_ID"].split("#")[0]  # each node sees <job id>#<node index>
    return Path(env.get("SCRATCH_DIR", "/efs")) / "mpi-launch" / job_id


def own_address() -> str:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("10.255.255.255", 1))  # no packet is sent; this picks the outbound interface
            return s.getsockname()[0]
        except OSError:
            return "127.0.0.1"


def point_at(command: str, host: str) -> str:
    return CONTROL_PORT.sub(lambda m: f"--control-port {host}:{m.group(1)}", command)


def run_main(env: dict, folder: Path, nodes: int, timeout_s: float) -> int:
    folder.mkdir(parents=True, exist_ok=True)
    mpiexec = str(Path(sys.executable).with_name("mpiexec"))
    hosts = ",".join(f"node{i}" for i in range(nodes))
    program = shlex.split(env.get("MPI_PROGRAM", DEFAULT_PROGRAM))
    launcher = subprocess.Popen(
        [mpiexec, "-launcher", "manual", "-hosts", hosts, "-n", str(nodes), "-ppn", "1", *program],
        stdout=subprocess.PIPE, text=True, env={**env, "DEVITO_MPI": env.get("DEVITO_MPI", "1")},
    )
    commands = []
    deadline = time.monotonic() + timeout_s
    for line in launcher.stdout:
        if line.startswith("HYDRA_LAUNCH_END"):
            break
        if line.startswith("HYDRA_LAUNCH:"):
            commands.append(line.removeprefix("HYDRA_LAUNCH:").strip())
        if time.monotonic() > deadline:
            launcher.kill()
            raise TimeoutError("mpiexec printed no launch commands")
    address = env.get("MPI_MAIN_ADDRESS", own_address())
    for index, command in enumerate(commands):
        pending = folder / f"node{index}.sh.tmp"
        pending.write_text(point_at(command, address))
        pending.rename(folder / f"node{index}.sh")  # a rename is atomic: children never read half a file
    proxy = subprocess.Popen(shlex.split(point_at(commands[0], address)), env=env)
    forward = forward_output(launcher)
    code = launcher.wait(timeout=None)
    forward.join(timeout=5)
    proxy.wait(timeout=60)
    return code


def forward_output(process: subprocess.Popen) -> threading.Thread:
    """Keep copying mpiexec's remaining output (every rank's stdout) to ours."""
    def copy() -> None:
        for line in process.stdout:
            sys.stdout.write(line)
        sys.stdout.flush()

    thread = threading.Thread(target=copy, daemon=True)
    thread.start()
    return thread


def run_child(env: dict, folder: Path, node: int, timeout_s: float) -> int:
    script = folder / f"node{node}.sh"
    deadline = time.monotonic() + timeout_s
    while not script.exists():
        if time.monotonic() > deadline:
            print(f"node {node}: no launch command from the main node after {timeout_s:.0f} s", file=sys.stderr)
            return 1
        time.sleep(0.5)
    command = script.read_text()
    main_address = env.get("AWS_BATCH_JOB_MAIN_NODE_PRIVATE_IPV4_ADDRESS")
    if main_address:
        command = point_at(command, main_address)
    return subprocess.call(shlex.split(command), env=env)


def main() -> int:
    env = dict(os.environ)
    node = int(env.get("AWS_BATCH_JOB_NODE_INDEX", "0"))
    main_node = int(env.get("AWS_BATCH_JOB_MAIN_NODE_INDEX", "0"))
    nodes = int(env.get("AWS_BATCH_JOB_NUM_NODES", "1"))
    timeout_s = float(env.get("MPI_LAUNCH_TIMEOUT_S", "600"))
    folder = job_folder(env)
    if node == main_node:
        return run_main(env, folder, nodes, timeout_s)
    return run_child(env, folder, node, timeout_s)


if __name__ == "__main__":
    sys.exit(main())

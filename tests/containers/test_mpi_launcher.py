"""The multi-node launcher, run for real: two 'nodes' as local processes sharing a folder as their EFS."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from tests.conftest import REPO_ROOT

LAUNCHER = REPO_ROOT / "containers" / "gradient_worker" / "mpi_launcher.py"


def test_two_nodes_run_one_mpi_program(tmp_path):
    program = tmp_path / "allreduce.py"
    program.write_text(textwrap.dedent("""
        from mpi4py import MPI
        comm = MPI.COMM_WORLD
        print(f"rank {comm.rank}/{comm.size} total {comm.allreduce(comm.rank + 1)}", flush=True)
    """))
    common = {
        **os.environ,
        "AWS_BATCH_JOB_MAIN_NODE_INDEX": "0",
        "AWS_BATCH_JOB_NUM_NODES": "2",
        "SCRATCH_DIR": str(tmp_path),
        "MPI_PROGRAM": f"{sys.executable} {program}",
        "MPI_MAIN_ADDRESS": "127.0.0.1",
        "MPI_LAUNCH_TIMEOUT_S": "60",
    }
    child = subprocess.Popen(
        [sys.executable, str(LAUNCHER)],
        env={**common, "AWS_BATCH_JOB_ID": "job-1#1", "AWS_BATCH_JOB_NODE_INDEX": "1",
             "AWS_BATCH_JOB_MAIN_NODE_PRIVATE_IPV4_ADDRESS": "127.0.0.1"},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    main = subprocess.run(
        [sys.executable, str(LAUNCHER)],
        env={**common, "AWS_BATCH_JOB_ID": "job-1#0", "AWS_BATCH_JOB_NODE_INDEX": "0"},
        capture_output=True, text=True, timeout=120,
    )
    child_out, _ = child.communicate(timeout=60)
    output = main.stdout + child_out
    assert main.returncode == 0 and child.returncode == 0, output + main.stderr
    assert "rank 0/2 total 3" in output and "rank 1/2 total 3" in output


def test_a_child_gives_up_when_the_main_node_never_writes(tmp_path):
    result = subprocess.run(
        [sys.executable, str(LAUNCHER)],
        env={**os.environ, "AWS_BATCH_JOB_ID": "job-2#1", "AWS_BATCH_JOB_NODE_INDEX": "1",
             "AWS_BATCH_JOB_MAIN_NODE_INDEX": "0", "AWS_BATCH_JOB_NUM_NODES": "2",
             "SCRATCH_DIR": str(tmp_path), "MPI_LAUNCH_TIMEOUT_S": "1"},
        capture_output=True, text=True, timeout=30,
    )
    assert result.returncode == 1 and "no launch command" in result.stderr

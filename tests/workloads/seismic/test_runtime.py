from __future__ import annotations

import os
import subprocess
import sys

from workloads.seismic.runtime import configure_environment, local_mpi_rank_and_size


def test_defaults_are_set_without_overriding_the_caller():
    env = {"DEVITO_LOGGING": "DEBUG"}
    applied = configure_environment(env, cpus=[0, 1])
    assert env["DEVITO_LANGUAGE"] == "openmp"
    assert env["DEVITO_LOGGING"] == "DEBUG" and "DEVITO_LOGGING" not in applied
    assert env["OMP_PROC_BIND"] == "close"
    assert env["OMP_PLACES"] == "cores"
    assert "OMP_NUM_THREADS" not in env  # one process: OpenMP uses every core it may run on


def test_local_ranks_get_disjoint_cores():
    cpus = [0, 1, 2, 3, 4, 5]
    places = []
    for rank in range(2):
        env = {"MPI_LOCALRANKID": str(rank), "MPI_LOCALNRANKS": "2"}
        assert local_mpi_rank_and_size(env) == (rank, 2)
        configure_environment(env, cpus=cpus)
        places.append({int(p.strip("{}")) for p in env["OMP_PLACES"].split(",")})
        assert env["OMP_NUM_THREADS"] == "3"
    assert places == [{0, 1, 2}, {3, 4, 5}]


def test_a_single_process_keeps_abstract_places():
    env: dict[str, str] = {"MPI_LOCALNRANKS": "1"}
    configure_environment(env, cpus=[0, 1])
    assert env["OMP_PLACES"] == "cores" and "OMP_NUM_THREADS" not in env


def test_devito_compiles_openmp_when_imported_through_the_package():
    code = ("import os; os.environ.pop('DEVITO_LANGUAGE', None); import workloads.seismic.operators; "
            "from devito import configuration; print(configuration['language'], os.environ['OMP_PLACES'])")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DEVITO_", "OMP_"))}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.split() == ["openmp", "cores"]

"""The user-data script that switches hyper-threading off, run for real against a fake sysfs tree."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from stacks.instance_types import instance_spec
from stacks.lsrtm.launch_template import render_cpu_topology_script


def _fake_sysfs(root: Path, cores: int, *, interleaved: bool) -> Path:
    """CPU directories like EC2's: either cpu i and cpu i+cores are siblings (Intel on EC2),
    or cpu 2i and 2i+1 are (interleaved numbering on some hosts)."""
    cpu_root = root / "cpu"
    for cpu in range(2 * cores):
        if interleaved:
            first = cpu - cpu % 2
            siblings = f"{first}-{first + 1}"
        else:
            first = cpu % cores
            siblings = f"{first},{first + cores}"
        topo = cpu_root / f"cpu{cpu}" / "topology"
        topo.mkdir(parents=True)
        (topo / "thread_siblings_list").write_text(siblings + "\n")
        if cpu:  # cpu0 cannot be taken offline, so the kernel gives it no 'online' file
            (cpu_root / f"cpu{cpu}" / "online").write_text("1\n")
    return cpu_root


def _run(tmp_path: Path, *, cores: int, online: int, threads: int, interleaved: bool = False) -> set[int]:
    cpu_root = _fake_sysfs(tmp_path, cores, interleaved=interleaved)
    script = tmp_path / "cpu.sh"
    script.write_text("#!/bin/bash\n" + render_cpu_topology_script(online_cpus=online, threads_per_core=threads))
    subprocess.run(["bash", str(script)], env={"CPU_ROOT": str(cpu_root), "PATH": "/usr/bin:/bin"}, check=True,
                   capture_output=True, timeout=60)
    online_cpus = {0}
    for f in cpu_root.glob("cpu*/online"):
        if f.read_text().strip() == "1":
            online_cpus.add(int(f.parent.name[3:]))
    return online_cpus


@pytest.mark.parametrize(("instance", "online"), [("m4.4xlarge", 8), ("r5.24xlarge", 24), ("r5.24xlarge", 48),
                                                  ("c5n.18xlarge", 18)])
def test_hyper_threading_off_keeps_one_thread_on_each_of_the_first_cores(tmp_path, instance, online):
    cores = instance_spec(instance).physical_cores
    assert _run(tmp_path, cores=cores, online=online, threads=1) == set(range(online))


def test_interleaved_numbering_keeps_one_thread_per_core(tmp_path):
    assert _run(tmp_path, cores=8, online=8, threads=1, interleaved=True) == {0, 2, 4, 6, 8, 10, 12, 14}


def test_hyper_threading_on_keeps_both_threads_of_each_kept_core(tmp_path):
    assert _run(tmp_path, cores=8, online=8, threads=2) == {0, 1, 2, 3, 8, 9, 10, 11}


def test_bad_topology_is_refused():
    with pytest.raises(ValueError):
        render_cpu_topology_script(online_cpus=0, threads_per_core=1)

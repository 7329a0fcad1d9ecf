"""Build and run images: with docker where a daemon answers, else with buildah (chroot isolation).

Both give the same four operations: build, run (the image's own entrypoint and command, host network,
so a container reaches servers on the host's 127.0.0.1), size, tag. buildah runs a container with
`buildah from` + `buildah run`, composing entrypoint + command from the image's configuration itself,
because `buildah run` does not apply them.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import uuid
from pathlib import Path


class StepFailed(RuntimeError):
    """A build or a run failed; the message names what and carries the tail of its output."""


class Running:
    """A container's process. stop() ends it (whole process group) and removes the container."""

    def __init__(self, tag: str, cmd: list[str], cleanup: list[str]) -> None:
        self.tag, self.cleanup = tag, cleanup
        self.output = ""
        self.process = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                        start_new_session=True)
        self._stopped = False

    def wait(self, timeout: float) -> int:
        """Wait for the process to end by itself; returns its exit code (raises TimeoutError)."""
        try:
            self.output, _ = self.process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise TimeoutError(f"{self.tag} still running after {timeout:.0f} s:\n{self.output[-3000:]}") from None
        self.stop()
        return self.process.returncode

    def stop(self) -> str:
        if self._stopped:
            return self.output
        self._stopped = True
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.output, _ = self.process.communicate(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.output, _ = self.process.communicate()
        subprocess.run(self.cleanup, capture_output=True)
        return self.output

    def __enter__(self) -> Running:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def run(engine, tag: str, args: list[str] | None = None, env: dict[str, str] | None = None,
        timeout: float = 600, entrypoint: list[str] | None = None) -> tuple[int, str]:
    """Run a container to its end: (exit code, output)."""
    with engine.start(tag, args, env, entrypoint) as running:
        return running.wait(timeout), running.output


def _check(cmd: list[str], what: str, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(cmd, text=True, capture_output=True, **kwargs)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-40:])
        raise StepFailed(f"{what} failed (exit {result.returncode}):\n{tail}")
    return result


def docker_daemon_answers() -> bool:
    if not shutil.which("docker"):
        return False
    return subprocess.run(["docker", "info"], capture_output=True).returncode == 0


class Docker:
    name = "docker"
    stand_ins = False

    def build(self, tag: str, context: Path, dockerfile: Path, *, build_args: dict[str, str],
              labels: dict[str, str] | None = None, volumes: list[str] | None = None, log: Path | None = None) -> None:
        cmd = ["docker", "build", "--platform", "linux/amd64", "-t", tag, "-f", str(dockerfile)]
        cmd += [f"--build-arg={k}={v}" for k, v in build_args.items()]
        cmd += [f"--label={k}={v}" for k, v in (labels or {}).items()]
        _run_logged([*cmd, str(context)], f"docker build {tag}", log)

    def start(self, tag: str, args: list[str] | None = None, env: dict[str, str] | None = None,
              entrypoint: list[str] | None = None) -> Running:
        name = f"hpcx-smoke-{uuid.uuid4().hex[:12]}"
        cmd = ["docker", "run", "--rm", "--name", name, "--network", "host"]
        if entrypoint is not None:  # docker takes one word; the rest goes before args
            cmd += ["--entrypoint", entrypoint[0] if entrypoint else ""]
            args = [*entrypoint[1:], *(args or [])]
        cmd += [f"--env={k}={v}" for k, v in (env or {}).items()]
        return Running(tag, [*cmd, tag, *(args or [])], cleanup=["docker", "rm", "-f", name])

    def size_bytes(self, tag: str) -> int:
        return int(_check(["docker", "image", "inspect", "--format", "{{.Size}}", tag], "docker inspect").stdout)

    def tag(self, source: str, name: str) -> None:
        _check(["docker", "tag", source, name], f"docker tag {name}")

    def label(self, tag: str, key: str) -> str | None:
        return None


class Buildah:
    name = "buildah (chroot isolation, no daemon)"
    stand_ins = True

    def build(self, tag: str, context: Path, dockerfile: Path, *, build_args: dict[str, str],
              labels: dict[str, str] | None = None, volumes: list[str] | None = None, log: Path | None = None) -> None:
        # --layers keeps each step's result, so an unchanged image rebuilds in seconds
        cmd = ["buildah", "bud", "--isolation", "chroot", "--pull=never", "--layers", "--network", "host",
               "-t", tag, "-f", str(dockerfile)]
        cmd += [f"--build-arg={k}={v}" for k, v in build_args.items()]
        cmd += [f"--label={k}={v}" for k, v in (labels or {}).items()]
        cmd += [f"--volume={v}" for v in volumes or []]
        _run_logged([*cmd, str(context)], f"buildah bud {tag}", log)

    def config(self, tag: str) -> dict:
        inspected = json.loads(_check(["buildah", "inspect", "--type", "image", tag], f"inspect {tag}").stdout)
        return inspected.get("OCIv1", {}).get("config", {})

    def start(self, tag: str, args: list[str] | None = None, env: dict[str, str] | None = None,
              entrypoint: list[str] | None = None) -> Running:
        """The image's entrypoint (or the one given) with args (or its command) in a throw-away container."""
        config = self.config(tag)
        entrypoint = (config.get("Entrypoint") or []) if entrypoint is None else entrypoint
        argv = [*entrypoint, *(args if args is not None else config.get("Cmd") or [])]
        container = _check(["buildah", "from", "--pull=never", tag], f"buildah from {tag}").stdout.strip()
        cmd = ["buildah", "run", "--isolation", "chroot", "--network", "host"]
        cmd += [f"--env={k}={v}" for k, v in (env or {}).items()]
        return Running(tag, [*cmd, container, "--", *argv], cleanup=["buildah", "rm", container])

    def size_bytes(self, tag: str) -> int:
        listed = json.loads(_check(["buildah", "images", "--json", tag], f"buildah images {tag}").stdout)
        number, unit = listed[0]["size"].split()  # "1.31 GB": buildah prints decimal units
        return int(float(number) * {"B": 1, "kB": 1e3, "KB": 1e3, "MB": 1e6, "GB": 1e9}[unit])

    def tag(self, source: str, name: str) -> None:
        _check(["buildah", "tag", source, name], f"buildah tag {name}")

    def label(self, tag: str, key: str) -> str | None:
        """A label of a local image, or None when the image is not there."""
        result = subprocess.run(["buildah", "inspect", "--type", "image", tag], capture_output=True, text=True)
        if result.returncode != 0:
            return None
        return (json.loads(result.stdout).get("OCIv1", {}).get("config", {}).get("Labels") or {}).get(key)


def _run_logged(cmd: list[str], what: str, log: Path | None) -> None:
    """Run a build, its whole output to the log file (it is long); on failure raise with its tail."""
    if log is None:
        _check(cmd, what)
        return
    with log.open("w") as out:
        code = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT).returncode
    if code != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-40:])
        raise StepFailed(f"{what} failed (exit {code}); whole log: {log}\n{tail}")


def ensure_buildah() -> None:
    """CI starts bare: install buildah (and mmdebstrap for the stand-ins) from Debian when missing."""
    if shutil.which("buildah") and shutil.which("mmdebstrap"):
        return
    print("   installing buildah and mmdebstrap with apt-get", flush=True)
    env = {"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    _check(["apt-get", "update", "-qq"], "apt-get update", env=env)
    _check(["apt-get", "install", "-y", "-qq", "buildah", "mmdebstrap"],
           "apt-get install buildah mmdebstrap", env=env)

"""Stand-ins for the base images, for a machine that can reach Debian's and Python's package registries
but no registry of container images. Each is made once and kept in buildah's store under the names the
Dockerfiles' FROM lines use; a label holds a hash of its recipe, so a changed recipe makes it anew.

- python:<v>-slim-bookworm (and its ECR Public mirror name): Debian bookworm's python<v> with pip, venv
  and headers, `python`/`pip` on PATH like the python.org build, no EXTERNALLY-MANAGED marker.
- public.ecr.aws/lambda/python:<v>: that, plus awslambdaric in /var/runtime, LAMBDA_TASK_ROOT=/var/task
  and /lambda-entrypoint.sh (standin/lambda-entrypoint.sh), which runs the client against
  AWS_LAMBDA_RUNTIME_API. README ("Building the images") lists how they differ from the real ones.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tools.images.engine import Buildah

HERE = Path(__file__).resolve().parent / "standin"
SUITE = "bookworm"
RECIPE_LABEL = "hpcx.standin-recipe"


@dataclass(frozen=True)
class StandIn:
    key: str
    names: tuple[str, ...]
    containerfile: str
    files: tuple[str, ...] = ()  # from standin/, copied next to the Containerfile

    def recipe_hash(self, extra: str) -> str:
        parts = [self.containerfile, extra, *((HERE / f).read_text() for f in self.files)]
        return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


def slim(version: str) -> StandIn:
    return StandIn(
        key="slim",
        names=(f"docker.io/library/python:{version}-slim-bookworm",
               f"public.ecr.aws/docker/library/python:{version}-slim-bookworm"),
        containerfile=(
            "FROM scratch\n"
            "ADD rootfs.tar /\n"
            "ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8\n"
            'CMD ["python3"]\n'
        ),
    )


def lambda_python(version: str, slim_name: str) -> StandIn:
    return StandIn(
        key="lambda",
        names=(f"public.ecr.aws/lambda/python:{version}",),
        files=("lambda-entrypoint.sh", "lambda-runtime.txt"),
        containerfile=(
            f"FROM {slim_name}\n"
            "ENV LAMBDA_TASK_ROOT=/var/task LAMBDA_RUNTIME_DIR=/var/runtime\n"
            "COPY lambda-runtime.txt /tmp/lambda-runtime.txt\n"
            "RUN mkdir -p /var/task && pip install --no-cache-dir --target /var/runtime -r /tmp/lambda-runtime.txt"
            " && rm /tmp/lambda-runtime.txt\n"
            "COPY lambda-entrypoint.sh /lambda-entrypoint.sh\n"
            "WORKDIR /var/task\n"
            'ENTRYPOINT ["/lambda-entrypoint.sh"]\n'
        ),
    )


def debian_rootfs(version: str, tarball: Path) -> None:
    """mmdebstrap a minimal bookworm with Debian's python<version>, shaped like the python.org image."""
    shape = (f"ln -sf /usr/bin/python{version} /usr/local/bin/python && "
             f"ln -sf /usr/bin/python{version} /usr/local/bin/python3 && "
             "ln -sf /usr/bin/pip3 /usr/local/bin/pip && "
             f"rm -f /usr/lib/python{version}/EXTERNALLY-MANAGED")
    packages = [f"python{version}", f"libpython{version}-dev", "python3-pip", "python3-venv", "ca-certificates"]
    subprocess.run(
        ["mmdebstrap", "--quiet", "--variant=minbase", f"--include={','.join(packages)}",
         f"--customize-hook=chroot \"$1\" sh -c '{shape}'", SUITE, str(tarball)],
        check=True,
    )


def ensure_standins(engine: Buildah, version: str, workdir: Path, volumes: list[str]) -> list[str]:
    """Make (or reuse) the stand-in bases; returns a line per base saying which and how long it took."""
    base = slim(version)
    notes = []
    for standin in (base, lambda_python(version, base.names[0])):
        recipe = standin.recipe_hash(extra=f"{SUITE} {version}")
        if all(engine.label(name, RECIPE_LABEL) == recipe for name in standin.names):
            notes.append(f"{standin.key}: cached ({standin.names[0]})")
            continue
        started = time.monotonic()
        folder = workdir / f"standin-{standin.key}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "Containerfile").write_text(standin.containerfile)
        for name in standin.files:
            (folder / name).write_bytes((HERE / name).read_bytes())
            (folder / name).chmod((HERE / name).stat().st_mode)
        if standin is base:
            print(f"   mmdebstrap {SUITE} with python{version} (about a minute)", flush=True)
            debian_rootfs(version, folder / "rootfs.tar")
        engine.build(standin.names[0], folder, folder / "Containerfile", build_args={},
                     labels={RECIPE_LABEL: recipe}, volumes=volumes)
        for name in standin.names[1:]:
            engine.tag(standin.names[0], name)
        (folder / "rootfs.tar").unlink(missing_ok=True)
        notes.append(f"{standin.key}: made in {time.monotonic() - started:.0f} s ({json.dumps(standin.names)})")
    return notes

"""The five images' Dockerfiles and the build contexts their stacks stage, for the image tests."""

from __future__ import annotations

import re
from pathlib import Path

from stacks.automon.image import AUTOMON_CONTEXT, AUTOMON_DOCKERFILE
from stacks.constructs.workflow_functions import DOCKERFILE as LAMBDA_DOCKERFILE
from stacks.constructs.workflow_functions import IMAGE_CONTEXT as LAMBDA_CONTEXT
from stacks.cosmic import executor as cosmic_executor
from stacks.cosmic import rendezvous as rendezvous_service
from stacks.lsrtm.stack import WORKER_CONTEXT, WORKER_DOCKERFILE
from tests.conftest import REPO_ROOT

# name -> (Dockerfile, the paths its stack's exclude list keeps in the build context)
IMAGES: dict[str, tuple[Path, list[str]]] = {
    "gradient_worker": (REPO_ROOT / WORKER_DOCKERFILE, WORKER_CONTEXT),
    "workflow_lambdas": (REPO_ROOT / LAMBDA_DOCKERFILE, LAMBDA_CONTEXT),
    "cosmic_executor": (REPO_ROOT / cosmic_executor.DOCKERFILE, cosmic_executor.IMAGE_CONTEXT),
    "rendezvous": (REPO_ROOT / rendezvous_service.DOCKERFILE, rendezvous_service.IMAGE_CONTEXT),
    "automon": (REPO_ROOT / AUTOMON_DOCKERFILE, AUTOMON_CONTEXT),
}


def instructions(dockerfile: Path) -> list[str]:
    """The Dockerfile's instructions, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", dockerfile.read_text())
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def copied_sources(dockerfile: Path) -> list[str]:
    """Every path a COPY takes from the build context (all sources, not the destination; not --from)."""
    sources = []
    for line in instructions(dockerfile):
        words = line.split()
        if words[0] == "COPY" and not any(w.startswith("--from=") for w in words):
            sources += [w.rstrip("/") for w in words[1:-1] if not w.startswith("--")]
    return sources

"""What each image is built from: the directory `cdk synth` staged for its asset in cdk.out (the narrowed
build context, exactly what `cdk deploy` hands to docker), its Dockerfile and its build arguments.

Building from the staged copy, not from the repository, is the point: a Dockerfile that COPYs something
the context's exclude list leaves out fails here as it would at deploy time.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from tools.images.python_version import REPO_ROOT

IMAGES = ("gradient_worker", "workflow_lambdas", "cosmic_executor", "rendezvous", "automon")


@dataclass(frozen=True)
class ImageSource:
    name: str
    context: Path
    dockerfile: Path
    build_args: dict[str, str] = field(default_factory=dict)
    asset_hash: str = ""


def staged_sources(cdk_out: Path = REPO_ROOT / "cdk.out") -> dict[str, ImageSource]:
    """name -> source of every image in containers/, from the asset manifests of a synthesized cdk.out.

    Raises when an image has no asset (no stack uses it, or the synth is missing) or when two assets
    build one Dockerfile differently (then this would have to build both).
    """
    found: dict[str, ImageSource] = {}
    manifests = sorted(cdk_out.glob("*.assets.json"))
    if not manifests:
        raise FileNotFoundError(f"no asset manifests in {cdk_out}: run `make synth` first")
    for manifest in manifests:
        for asset_hash, asset in json.loads(manifest.read_text()).get("dockerImages", {}).items():
            source = asset["source"]
            dockerfile = source.get("dockerFile", "Dockerfile")
            name = Path(dockerfile).parent.name
            context = cdk_out / source["directory"]
            image = ImageSource(name, context, context / dockerfile, dict(source.get("dockerBuildArgs", {})), asset_hash)
            if name in found and found[name] != image:
                raise ValueError(f"{name}: two assets build {dockerfile} differently ({found[name].asset_hash[:12]}, "
                                 f"{asset_hash[:12]})")
            found[name] = image
    missing = [name for name in IMAGES if name not in found]
    if missing:
        raise ValueError(f"no asset in {cdk_out} builds {', '.join(missing)}")
    return {name: found[name] for name in IMAGES}

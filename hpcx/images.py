"""`hpcx images`: build every image from cdk.out's contexts and run its entrypoint (tools/images)."""

from __future__ import annotations

import sys

import click

from hpcx.options import json_option, require_stacks
from hpcx.paths import CDK_OUT


def image_names() -> list[str]:
    from tools.images.contexts import IMAGES

    return list(IMAGES)


@click.command()
@click.option("--only", multiple=True, type=click.Choice(image_names()), help="build (and run) only this image; repeatable")
@click.option("--no-smoke", is_flag=True, help="build only, run nothing")
@json_option
def images(only, no_smoke, as_json) -> None:
    """Build the images from the contexts `cdk synth` staged in cdk.out (docker, or buildah where there is no
    daemon) and make each do its real job against a local S3/SQS (slow: minutes; see the README).

    \b
    Example:
      hpcx synth && hpcx images --only rendezvous
      hpcx images --json    # progress on stderr; per image: build seconds, MiB; smoke-run seconds
    """
    from tools.images.__main__ import main

    require_stacks(CDK_OUT, "BatchStack")  # tools/images reads the repository's cdk.out
    argv = (["--only", *only] if only else []) + (["--no-smoke"] if no_smoke else []) + (["--json"] if as_json else [])
    sys.exit(main(argv))

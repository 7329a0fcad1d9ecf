"""All five images: one Python version (.python-version = the tests' interpreter = every Dockerfile's default,
used by every FROM), and everything a Dockerfile copies is inside the context its stack stages."""

from __future__ import annotations

import re
import sys

import pytest

from tests.conftest import REPO_ROOT
from tests.containers.dockerfiles import IMAGES, copied_sources, instructions
from tools.images.contexts import IMAGES as BUILT_BY_MAKE_IMAGES
from tools.images.python_version import python_version

NAMES = sorted(IMAGES)


def test_the_one_python_version_is_the_tests_interpreter():
    assert python_version() == f"{sys.version_info.major}.{sys.version_info.minor}"
    assert "PYTHON_VERSION := $(shell cat .python-version)" in (REPO_ROOT / "Makefile").read_text()


def test_make_images_builds_every_image_the_tests_read():
    assert set(BUILT_BY_MAKE_IMAGES) == set(IMAGES)


@pytest.mark.parametrize("name", NAMES)
def test_every_from_takes_the_python_version_whose_default_is_the_one_version(name):
    lines = instructions(IMAGES[name][0])
    first_from = next(i for i, line in enumerate(lines) if line.startswith("FROM "))
    defaults = [line.split("=", 1)[1] for line in lines[:first_from] if line.startswith("ARG PYTHON_VERSION=")]
    assert defaults == [python_version()]
    froms = [line for line in lines if line.startswith("FROM ")]
    assert froms and all("${PYTHON_VERSION}" in line for line in froms), froms
    assert not any(re.search(r"python:3\.\d", line) for line in froms)


@pytest.mark.parametrize("name", NAMES)
def test_everything_copied_is_inside_the_build_context(name):
    dockerfile, context = IMAGES[name]
    sources = copied_sources(dockerfile)
    assert sources
    for source in sources:
        assert (REPO_ROOT / source).exists(), source
        assert any(source == c or source.startswith(c + "/") for c in context), source


def test_copied_sources_reads_every_source_of_a_multi_source_copy(tmp_path):
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text("FROM x\nCOPY a/b \\\n  c/d /tmp/\nCOPY --from=build /opt /opt\nCOPY --chown=1:1 e /e\n")
    assert copied_sources(dockerfile) == ["a/b", "c/d", "e"]

"""Snapshot of every stack's template. Asset hashes (64 hex digits) are masked so the snapshot is the
same on any machine and run; anything else that changes is a real change to review.

Update after an intended change: `.venv/bin/python -m pytest tests/stacks/test_snapshots.py --snapshot-update`.
"""

from __future__ import annotations

import json
import re

import pytest
from syrupy.extensions.json import JSONSnapshotExtension

from tests.stacks.stack_names import STACK_NAMES

ASSET_HASH = re.compile(r"\b[0-9a-f]{64}\b")



def masked(template: dict) -> dict:
    return json.loads(ASSET_HASH.sub("<asset-hash>", json.dumps(template)))


@pytest.fixture
def snapshot_json(snapshot):
    return snapshot.use_extension(JSONSnapshotExtension)


@pytest.mark.parametrize("stack_name", STACK_NAMES)
def test_template_matches_snapshot(synthesized, snapshot_json, stack_name):
    assert masked(synthesized.templates[stack_name].to_json()) == snapshot_json


def test_masking_hides_only_hashes():
    template = {"Image": "123.dkr.ecr/repo:" + "a" * 64, "Name": "hpcx-gradient", "Short": "abc123"}
    assert masked(template) == {"Image": "123.dkr.ecr/repo:<asset-hash>", "Name": "hpcx-gradient", "Short": "abc123"}

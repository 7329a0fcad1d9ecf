"""Stack outputs tell a user what to type next: the hpcx command, not a module path (`python -m ...`)."""

from __future__ import annotations

import pytest

from tests.stacks.stack_names import STACK_NAMES


@pytest.mark.parametrize("stack_name", STACK_NAMES)
def test_outputs_name_hpcx_commands(synthesized, stack_name):
    outputs = synthesized.templates[stack_name].to_json().get("Outputs", {})
    told = {key: o.get("Description", "") for key, o in outputs.items() if "python -m" in o.get("Description", "")}
    assert not told, f"outputs that name python -m instead of hpcx: {told}"


def test_the_upload_outputs_name_the_hpcx_data_commands(synthesized):
    def description(stack: str, key: str) -> str:
        return synthesized.templates[stack].to_json()["Outputs"][key]["Description"]

    assert "hpcx data synthetic --bucket <DataBucket>" in description("BatchStack", "ExampleInput")
    assert "hpcx data cosmic --bucket <DataBucket>" in description("FmiStack", "ExampleInput")

"""Taking one grant out of a synthesized template, for the tests that show a local run refusing the call."""

from __future__ import annotations


def remove_grant(template: dict, role_prefix: str, action: str) -> dict:
    """`template` with `action` removed from the one policy statement that grants it to the role
    `role_prefix*` (a statement left with no action gets a placeholder action that matches nothing)."""
    removed = 0
    for resource in template["Resources"].values():
        props = resource.get("Properties", {})
        if resource["Type"] != "AWS::IAM::Policy" or not any(
                r.get("Ref", "").startswith(role_prefix) for r in props.get("Roles", [])):
            continue
        for statement in props["PolicyDocument"]["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            if action in actions:
                actions.remove(action)
                statement["Action"] = actions or ["none:None"]
                removed += 1
    assert removed == 1, f"expected one statement of {role_prefix}* granting {action}, found {removed}"
    return template

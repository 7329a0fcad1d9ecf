"""Every image Lambda (WorkflowFunction) may write its own log group and its streams, and only those: a role
of its own gets no log permissions by default, and the function would write no logs on AWS."""

from __future__ import annotations

import pytest

# the stacks whose functions are WorkflowFunctions (13 functions: BatchStack 5, FmiStack 3, AutoMonNodesStack 5)
STACKS_WITH_FUNCTIONS = ["BatchStack", "FmiStack", "AutoMonNodesStack"]

LOG_WRITE = ["logs:CreateLogStream", "logs:PutLogEvents"]


@pytest.mark.parametrize("stack", STACKS_WITH_FUNCTIONS)
def test_each_function_role_writes_its_own_log_group_only(synthesized, stack):
    resources = synthesized.templates[stack].to_json()["Resources"]
    functions = {k: r["Properties"] for k, r in resources.items()
                 if r["Type"] == "AWS::Lambda::Function" and "LoggingConfig" in r["Properties"]}
    assert functions, f"{stack} has no function with its own log group"
    for props in functions.values():
        role = props["Role"]["Fn::GetAtt"][0]
        group = props["LoggingConfig"]["LogGroup"]["Ref"]
        statements = [s for r in resources.values() if r["Type"] == "AWS::IAM::Policy"
                      and {"Ref": role} in r["Properties"]["Roles"]
                      for s in r["Properties"]["PolicyDocument"]["Statement"]]
        log_statements = [s for s in statements if any(str(a).startswith("logs:") for a in
                                                       (s["Action"] if isinstance(s["Action"], list) else [s["Action"]]))]
        assert log_statements == [{"Action": LOG_WRITE, "Effect": "Allow", "Resource": {"Fn::GetAtt": [group, "Arn"]}}]

"""The stacks app.py builds, for parametrized tests (one snapshot and one nag check per stack)."""

import ast
from pathlib import Path

_APP = Path(__file__).resolve().parents[2] / "app.py"


def _stack_names() -> list[str]:
    """Keys of the dict literal `stacks: dict[...] = {...}` in app.build, read without running the app."""
    tree = ast.parse(_APP.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.AnnAssign) and getattr(node.target, "id", "") == "stacks" and isinstance(node.value, ast.Dict):
            return [k.value for k in node.value.keys]
    raise RuntimeError("app.py has no `stacks: dict[...] = {...}` literal")


STACK_NAMES = _stack_names()

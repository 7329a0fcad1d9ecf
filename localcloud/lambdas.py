"""Load a Lambda handler from lambda/<name>/handler.py (the folder `lambda` is a Python keyword, so by path)."""

from __future__ import annotations

import importlib.util
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from localcloud.sfn.integrations import LambdaContext

LAMBDA_ROOT = Path(__file__).resolve().parent.parent / "lambda"


def handler_names() -> list[str]:
    return sorted(p.parent.name for p in LAMBDA_ROOT.glob("*/handler.py"))


_IMPORT_LOCK = threading.Lock()  # local runners call handlers from several threads at once


def load_handler(name: str, function: str = "handler") -> Callable:
    """The handler function of lambda/<name>/handler.py, imported once as module '<name>.handler'."""
    module_name = f"{name}.handler"
    with _IMPORT_LOCK:  # a second thread must not see the module before it has finished importing
        module = _import(name, module_name)
    return getattr(module, function)


def _import(name: str, module_name: str):
    module = sys.modules.get(module_name)
    if module is None:
        path = LAMBDA_ROOT / name / "handler.py"
        if not path.exists():
            raise FileNotFoundError(f"no handler at {path}; known: {handler_names()}")
        spec = importlib.util.spec_from_file_location(module_name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[module_name]
            raise
    return module


def invoke(name: str, event: dict) -> object:
    """Call lambda/<name>/handler.py's handler as Lambda would, with a local context."""
    return load_handler(name)(event, LambdaContext(name))

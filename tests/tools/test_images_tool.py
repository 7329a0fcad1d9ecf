"""The parts of `make images` that run without a container: which staged context each image gets, the host
pip settings lent to stand-in builds, and the Lambda Runtime API server (driven over HTTP as awslambdaric does).
The image builds and smoke runs themselves are `make images` (too slow for the test suite)."""

from __future__ import annotations

import json
import threading
import urllib.request

import pytest

from tools.images.contexts import IMAGES, staged_sources
from tools.images.host_pip import local_paths
from tools.images.runtime_api import PREFIX, RuntimeApi


def _manifest(tmp_path, name: str, images: dict) -> None:
    (tmp_path / f"{name}.assets.json").write_text(json.dumps({"dockerImages": images}))


def _asset(name: str, digest: str, **args) -> dict:
    source = {"directory": f"asset.{digest}", "dockerFile": f"containers/{name}/Dockerfile"}
    return {digest: {"source": {**source, **({"dockerBuildArgs": args} if args else {})}}}


def test_each_image_gets_the_directory_cdk_staged_for_it(tmp_path):
    _manifest(tmp_path, "A", {k: v for i, n in enumerate(IMAGES[:3]) for k, v in _asset(n, f"{i}aa").items()})
    _manifest(tmp_path, "B", {**_asset(IMAGES[3], "3aa"), **_asset(IMAGES[4], "4aa", X="1"),
                              **_asset(IMAGES[1], "1aa")})  # the same asset in two stacks
    sources = staged_sources(tmp_path)
    assert list(sources) == list(IMAGES)
    assert sources[IMAGES[1]].context == tmp_path / "asset.1aa"
    assert sources[IMAGES[1]].dockerfile == tmp_path / "asset.1aa" / f"containers/{IMAGES[1]}/Dockerfile"
    assert sources[IMAGES[4]].build_args == {"X": "1"}


def test_a_missing_image_or_two_different_builds_of_one_are_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match="make synth"):
        staged_sources(tmp_path)
    _manifest(tmp_path, "A", _asset(IMAGES[0], "0aa"))
    with pytest.raises(ValueError, match="no asset .* builds"):
        staged_sources(tmp_path)
    _manifest(tmp_path, "B", _asset(IMAGES[0], "0bb"))
    with pytest.raises(ValueError, match="differently"):
        staged_sources(tmp_path)


def test_the_local_paths_of_the_pip_settings_are_mounted(tmp_path):
    (tmp_path / "index" / "simple").mkdir(parents=True)
    (tmp_path / "wheels").mkdir()
    settings = {"extra-index-url": f"file://{tmp_path}/index/simple https://example.org/simple",
                "find-links": str(tmp_path / "wheels"), "cert": str(tmp_path / "absent.crt")}
    # a simple index's whole folder (its pages link to ../../files), no URL, nothing that does not exist
    assert local_paths(settings) == [tmp_path / "index", tmp_path / "wheels"]


def _post(api: RuntimeApi, path: str, body: dict) -> int:
    request = urllib.request.Request(f"http://{api.address}{PREFIX}/{path}", data=json.dumps(body).encode(),
                                     method="POST")
    with urllib.request.urlopen(request, timeout=5) as response:
        return response.status


def test_the_runtime_api_hands_out_an_event_and_keeps_the_answer():
    with RuntimeApi("fn") as api:
        api.events_put({"n": 1})
        with urllib.request.urlopen(f"http://{api.address}{PREFIX}/invocation/next", timeout=5) as response:
            event, request_id = json.loads(response.read()), response.headers["Lambda-Runtime-Aws-Request-Id"]
            assert int(response.headers["Lambda-Runtime-Deadline-Ms"]) > 0
        assert event == {"n": 1}
        assert api.poll_answer(timeout=0.1) is None
        assert _post(api, f"invocation/{request_id}/response", {"doubled": 2}) == 202
        answer = api.poll_answer(timeout=1)
        assert answer.ok and answer.body == {"doubled": 2}


def test_an_error_and_an_init_error_are_answers_that_are_not_ok():
    with RuntimeApi("fn") as api:
        api.events_put({})
        with urllib.request.urlopen(f"http://{api.address}{PREFIX}/invocation/next", timeout=5) as response:
            request_id = response.headers["Lambda-Runtime-Aws-Request-Id"]
        _post(api, f"invocation/{request_id}/error", {"errorType": "ValueError", "errorMessage": "bad"})
        assert api.poll_answer(timeout=1).body["errorType"] == "ValueError"
        api.events_put({})  # the client dies importing the handler before it asks for this one
        threading.Thread(target=_post, args=(api, "init/error", {"errorType": "Runtime.ImportModuleError"})).start()
        answer = api.poll_answer(timeout=2)
        assert not answer.ok and answer.body["errorType"] == "Runtime.ImportModuleError"

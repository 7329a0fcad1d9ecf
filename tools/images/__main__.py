"""make images: build the five images from the contexts `cdk synth` staged, then make each do its real job.

    hpcx images [--only NAME ...] [--no-smoke] [--json]     (or make images; python -m tools.images takes the same)

Exits non-zero naming the image and the step that failed. Needs a synthesized cdk.out (make synth).
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import tempfile
import time
import traceback
import urllib.request
from pathlib import Path

from tools.images import contexts, engine, python_version
from tools.images.host_pip import build_volumes
from tools.images.session import Session, SmokeFailed

TAG = "localhost/hpcx/{name}:smoke"
LOG_DIR = contexts.REPO_ROOT / "out" / "images"  # each build's whole log, kept after the run
TORCH_INDEX_ARG = "TORCH_INDEX_URL"
TORCH_INDEX = "https://download.pytorch.org/whl/cpu"


class Failed(RuntimeError):
    def __init__(self, image: str, step: str, detail: str) -> None:
        super().__init__(f"{image}: {step} failed: {detail}")


PROGRESS = {"stream": sys.stdout}  # stderr with --json, so stdout holds only the JSON summary


def say(line: str) -> None:
    print(line, file=PROGRESS["stream"], flush=True)


def reachable(url: str) -> bool:
    try:
        urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=5).close()
        return True
    except (OSError, ValueError):
        return False


def choose_engine():
    if engine.docker_daemon_answers():
        return engine.Docker()
    engine.ensure_buildah()
    return engine.Buildah()


def build_args(name: str, source: contexts.ImageSource, version: str, stand_ins: bool) -> dict[str, str]:
    args = {**source.build_args, python_version.BUILD_ARG: version}
    if name == "cosmic_executor" and stand_ins and not reachable(TORCH_INDEX + "/torch/"):
        # The CPU index cannot be reached: torch then comes from the host's pip configuration (its
        # find-links hold the +cpu wheel); the smoke run checks that the image's torch is the CPU build.
        args[TORCH_INDEX_ARG] = "https://pypi.org/simple"
        say(f"   {TORCH_INDEX} is unreachable: torch from the host's pip configuration instead")
    return args


def build_all(eng, names: list[str], workdir: Path) -> tuple[dict[str, str], dict[str, tuple[float, int]]]:
    version = python_version.python_version()
    sources = contexts.staged_sources()
    volumes: list[str] = []
    if eng.stand_ins:
        from tools.images.standins import ensure_standins

        volumes = build_volumes(workdir)
        say("== base images: bookworm stand-ins (no registry of base images here)")
        started = time.monotonic()
        try:
            for note in ensure_standins(eng, version, workdir, volumes):
                say(f"   {note}")
        except Exception as exc:
            raise Failed("base images", "stand-in", str(exc)) from exc
        say(f"   base images ready in {time.monotonic() - started:.0f} s")
    tags, stats = {}, {}
    for name in names:
        source = sources[name]
        tag = TAG.format(name=name)
        say(f"== build {name} (context {source.context.relative_to(contexts.REPO_ROOT)}, Python {version})")
        started = time.monotonic()
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        log = LOG_DIR / f"build-{name}.log"
        try:
            eng.build(tag, source.context, source.dockerfile, build_args=build_args(name, source, version, eng.stand_ins),
                      volumes=volumes, log=log)
        except engine.StepFailed as exc:
            raise Failed(name, "build", str(exc)) from exc
        tags[name] = tag
        stats[name] = (time.monotonic() - started, eng.size_bytes(tag))
        say(f"   built {tag} in {stats[name][0]:.0f} s, {stats[name][1] / 2**20:.0f} MiB")
    return tags, stats


def smoke_all(session: Session, names: list[str]) -> dict[str, float]:
    from tools.images import smoke_automon, smoke_cosmic, smoke_lsrtm

    # (smoke run, images it proves, those it needs built)
    runs = [(smoke_lsrtm.smoke, "gradient_worker", {"gradient_worker", "workflow_lambdas"}),
            (smoke_cosmic.smoke, "rendezvous + cosmic_executor", {"rendezvous", "cosmic_executor", "workflow_lambdas"}),
            (smoke_automon.smoke, "automon", {"automon", "workflow_lambdas"})]
    timings = {}
    for smoke, proves, needs in runs:
        if not needs <= set(names):
            continue
        say(f"== run {proves}")
        started = time.monotonic()
        try:
            smoke(session, lambda line: say(f"   {line}"))
        except (SmokeFailed, engine.StepFailed, TimeoutError) as exc:
            raise Failed(proves, "smoke run", str(exc)) from exc
        except Exception as exc:  # a bug or an unexpected answer: still name the image and the step
            raise Failed(proves, "smoke run", traceback.format_exc(limit=-4)) from exc
        timings[proves] = time.monotonic() - started
        say(f"   ok in {timings[proves]:.0f} s")
    if "workflow_lambdas" in names and {"gradient_worker", "rendezvous", "cosmic_executor", "automon"} <= set(names):
        missing = sorted(set(session.functions("workflow_lambdas")) - set(session.invoked))
        if missing:
            raise Failed("workflow_lambdas", "smoke run", f"handlers never invoked: {', '.join(missing)}")
        say(f"== workflow_lambdas: all {len(session.functions('workflow_lambdas'))} handlers answered through awslambdaric")
    return timings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.images", description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=contexts.IMAGES, help="build (and run) only these images")
    parser.add_argument("--no-smoke", action="store_true", help="build only")
    parser.add_argument("--json", action="store_true", help="progress on stderr, a JSON summary on stdout")
    args = parser.parse_args(argv)
    PROGRESS["stream"] = sys.stderr if args.json else sys.stdout
    names = list(args.only or contexts.IMAGES)
    started = time.monotonic()
    try:
        eng = choose_engine()
        say(f"== engine: {eng.name}")
        with tempfile.TemporaryDirectory(prefix="hpcx-images-") as tmp:
            workdir = Path(tmp)
            tags, stats = build_all(eng, names, workdir)
            timings = {}
            if not args.no_smoke:
                from localcloud.services.moto_server import moto_server

                sources = contexts.staged_sources()
                with moto_server() as url:
                    session = Session(eng, tags, url, contexts.REPO_ROOT / "cdk.out",
                                      {n: s.asset_hash for n, s in sources.items()})
                    timings = smoke_all(session, names)
    except Failed as exc:
        say(f"FAILED {exc}")
        say("images: 0 passed, 1 failed")
        if args.json:
            print(json.dumps({"passed": 0, "failed": 1, "error": str(exc)}))
        return 1
    say("== summary (build s, size MiB)")
    for name, (seconds, size) in stats.items():
        say(f"   {name:18s} {seconds:6.0f} s {size / 2**20:8.0f} MiB")
    for what, seconds in timings.items():
        say(f"   run {what:30s} {seconds:6.0f} s")
    say(f"== images ok in {time.monotonic() - started:.0f} s on {socket.gethostname()}")
    say(f"images: {len(stats)} passed, 0 failed")  # the closing line CI reads
    if args.json:
        print(json.dumps({
            "engine": eng.name, "passed": len(stats), "failed": 0, "total_s": round(time.monotonic() - started, 1),
            "images": {name: {"build_s": round(seconds, 1), "size_mib": round(size / 2**20)}
                       for name, (seconds, size) in stats.items()},
            "smoke_runs_s": {what: round(seconds, 1) for what, seconds in timings.items()},
        }, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

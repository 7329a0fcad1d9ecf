"""Every command and group answers --help with exit 0, its defaults and an example."""

from __future__ import annotations

import click
import pytest

from hpcx.main import cli


def _commands(group: click.Group, path: tuple[str, ...] = ()):
    for name, command in group.commands.items():
        yield (*path, name)
        if isinstance(command, click.Group):
            yield from _commands(command, (*path, name))


COMMANDS = [()] + list(_commands(cli))


def test_the_tree_has_every_command_the_issue_asks_for():
    names = {" ".join(c) for c in COMMANDS}
    assert {"demo", "local lsrtm", "local cosmic", "local automon", "local ray", "data synthetic", "data bp2004",
            "data cosmic", "reproduce", "bench", "images", "synth", "diff", "deploy"} <= names


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "hpcx")
def test_help_exits_0_with_an_example(hpcx, path):
    result = hpcx(*path, "--help")
    assert result.exit_code == 0, result.output
    assert "Example:" in result.output
    assert "hpcx " in result.output.split("Example:")[1]


def test_help_shows_defaults(hpcx):
    result = hpcx("local", "lsrtm", "--help")
    assert "[default: 8; x>=1]" in result.output  # --shots
    assert "161x61" in result.output


def test_demo_help_does_not_start_the_demo(hpcx, forbid):
    import localcloud.demo

    forbid(localcloud.demo, "main")
    assert hpcx("demo", "--help").exit_code == 0


def test_an_experiments_help_lists_its_own_options(hpcx):
    # its options live in reproduce's parser: the help must come from there, under hpcx's name
    result = hpcx("reproduce", "weak", "--help")
    assert result.exit_code == 0
    assert "usage: hpcx reproduce weak" in result.output and "--campaign" in result.output

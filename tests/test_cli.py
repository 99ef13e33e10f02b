"""The ``bodyfit`` command: every subcommand is reachable, unknown ones are refused, and each
subcommand's help names it as ``bodyfit <command>``."""
from __future__ import annotations

import pytest

from bodyfit.cli import SUBCOMMANDS, main


def test_usage_lists_every_subcommand(capsys):
    assert main(["--help"]) == 0
    printed = capsys.readouterr().out
    assert all(name in printed for name in SUBCOMMANDS)
    assert main([]) == 2  # no command: the usage, and a failing exit


def test_an_unknown_command_is_refused_naming_it(capsys):
    assert main(["fitt"]) == 2
    assert "unknown command 'fitt'" in capsys.readouterr().err


@pytest.mark.parametrize("name", sorted(SUBCOMMANDS))
def test_each_subcommand_answers_help_under_its_own_name(name, capsys):
    with pytest.raises(SystemExit) as done:
        main([name, "--help"])
    assert done.value.code == 0
    assert f"usage: bodyfit {name}" in capsys.readouterr().out

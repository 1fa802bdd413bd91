"""The command line: every option of every command says what it is (issue 21), and the choices of the
distillation command are the package's strategies."""

import argparse

from nnpdistill.cli import build_parser
from nnpdistill.selection import STRATEGIES


def _walk(parser, path):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _walk(sub, [*path, name])
        else:
            yield path, action


def test_every_option_has_help():
    missing = [f"{' '.join(path)} {action.option_strings or action.dest}"
               for path, action in _walk(build_parser(), [])
               if not action.help and not isinstance(action, argparse._HelpAction)]
    assert not missing, f"options without help: {missing}"
    helps = {" ".join(path) for path, _ in _walk(build_parser(), [])}
    assert {"validate-nnp", "sample run", "export-nnp", "select"} <= helps


def test_select_offers_every_strategy():
    for path, action in _walk(build_parser(), []):
        if path == ["select"] and "--strategy" in action.option_strings:
            assert list(action.choices) == list(STRATEGIES)
            return
    raise AssertionError("select --strategy not found")

"""What every command group shares: the help layout and the refusal of renamed options."""

from __future__ import annotations

import argparse


class HelpFormatter(argparse.HelpFormatter):
    """Appends each option's default to its help, when it has one."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "%(default)" in text or any(action.default is v for v in (None, False, argparse.SUPPRESS)) \
                or not action.option_strings:
            return text
        return f"{text} (default: %(default)s)"


class _Renamed(argparse.Action):
    def __call__(self, parser, namespace, values, option_string=None):
        parser.error(f"{option_string} is now called {self.const}")


def renamed(parser: argparse.ArgumentParser, old: str, new: str) -> None:
    """Refuse the old spelling ``old`` of an option with a message naming ``new`` (hidden from --help)."""
    parser.add_argument(old, action=_Renamed, const=new, nargs="?", help=argparse.SUPPRESS)

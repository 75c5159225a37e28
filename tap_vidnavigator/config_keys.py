"""Config a person gets wrong: misspelled settings and unreadable config files.

Misspelled settings are refused before any request, with the closest known name.
An SDK tap ignores config keys its schema does not know, so ``max_post: 5`` (for
``max_posts``) would run a whole, paid scrape without the filter. What counts as known
is the tap class's own merged schema: its settings plus the ones the SDK appends for the
capabilities it declares (stream maps, flattening, ``batch_config``, ...), read the way
the SDK builds it for ``--about``, so that a new SDK version's built-in keys keep working.
"""

from __future__ import annotations

import copy
import difflib
import json
import typing as t
from pathlib import Path

if t.TYPE_CHECKING:
    from singer_sdk import Tap


def known_settings(tap_class: type[Tap]) -> frozenset[str]:
    """The top-level settings ``tap_class`` accepts, the SDK's built-in ones included."""
    # append_builtin_config fills the schema it is given in place: work on a copy.
    schema = copy.deepcopy(tap_class.config_jsonschema)
    tap_class.append_builtin_config(schema)
    return frozenset(schema.get("properties", {}))


def closest(name: str, known: t.Iterable[str]) -> str | None:
    """The known name ``name`` most likely misspells, if one is close enough."""
    matches = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.6)
    return matches[0] if matches else None


def did_you_mean(unknown: t.Iterable[str], known: t.Iterable[str]) -> str:
    """``" (did you mean 'max_posts'?)"`` (a guess per key), or ``""`` without a guess."""
    known = tuple(known)
    unknown = tuple(unknown)
    guesses = {name: closest(name, known) for name in unknown}
    found = [(name, guess) for name, guess in guesses.items() if guess]
    if not found:
        return ""
    if len(unknown) == 1:
        return f" (did you mean {found[0][1]!r}?)"
    return " (did you mean " + ", ".join(f"{g!r} for {n!r}" for n, g in found) + "?)"


def unknown_setting_errors(config: t.Mapping[str, t.Any], known: t.Collection[str]) -> list[str]:
    """One error per top-level key of ``config`` that is not a setting."""
    return [
        f"{name!r} is not a setting of tap-vidnavigator{did_you_mean([name], known)}; "
        "tap-vidnavigator --about lists them all"
        for name in sorted(set(config) - set(known))
    ]


def config_file_problem(path: str) -> str | None:
    """What is wrong with a ``--config`` file, in one line naming it; None if it reads.

    ``ENV`` is the SDK's word for "settings from the environment", not a file.
    """
    if path == "ENV":
        return None
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        return f"config file {path} does not exist"
    except IsADirectoryError:
        return f"config file {path} is a folder, not a JSON file"
    except (OSError, UnicodeDecodeError) as exc:
        return f"config file {path} cannot be read: {exc}"
    try:
        config = json.loads(text)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno} column {exc.colno}"
        return f"config file {path} is not valid JSON: {exc.msg} at {where}"
    if not isinstance(config, dict):
        return (
            f"config file {path} must hold a JSON object of settings, not {type(config).__name__}"
        )
    return None

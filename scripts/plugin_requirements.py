"""Print each installable Meltano plugin's requirements, as ``./scripts/lock`` locks them.

One line per plugin of meltano.yml with a ``pip_url`` of its own, tab-separated: its
name; the oldest Python it must install on (3.10, or a local package's
``requires-python``); the requirements its ``pip_url`` names (space-separated) or, for a
local package (``-e PATH``), that package's ``pyproject.toml``. Options of a ``pip_url``
(such as the ``-c`` that points at the plugin's lock) are not requirements.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
#: pip options that take a value: the value is no requirement either.
OPTIONS_WITH_VALUE = {"-c", "--constraint", "--constraints", "-r", "--requirement"}
OLDEST_PYTHON = "3.10"


def _oldest_python(pyproject: Path) -> str:
    floor = re.search(r'^requires-python\s*=\s*">=\s*(3\.\d+)', pyproject.read_text(), re.M)
    return floor.group(1) if floor else OLDEST_PYTHON


def plugin_requirements(meltano_yml: Path = ROOT / "meltano.yml") -> dict[str, tuple[str, str]]:
    """Each plugin's name, oldest Python and what its environment is resolved from."""
    project = yaml.safe_load(meltano_yml.read_text())
    found: dict[str, tuple[str, str]] = {}
    for plugins in project["plugins"].values():
        for plugin in plugins:
            if not plugin.get("pip_url"):
                continue
            words = iter(shlex.split(plugin["pip_url"]))
            requirements: list[str] = []
            python = OLDEST_PYTHON
            for word in words:
                if word in OPTIONS_WITH_VALUE:
                    next(words)
                elif word in {"-e", "--editable"}:
                    pyproject = Path(next(words)) / "pyproject.toml"
                    python = _oldest_python(ROOT / pyproject)
                    requirements.append(str(pyproject).removeprefix("./"))
                elif not word.startswith("-"):
                    requirements.append(word)
            found[plugin["name"]] = (python, " ".join(requirements))
    return found


if __name__ == "__main__":
    for name, (python, requirements) in plugin_requirements().items():
        print(f"{name}\t{python}\t{requirements}")

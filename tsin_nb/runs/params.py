"""Parameters of ``tsin-nb reproduce``: YAML files read with line numbers, names and types checked against the notebooks."""

from __future__ import annotations

import ast
import difflib
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

_KINDS = {bool: "true or false", int: "an integer", float: "a number", str: "a string", list: "a list",
          tuple: "a list"}


def _type_ok(value: Any, default: Any) -> bool:
    """Whether ``value`` may replace ``default`` (ints for floats are fine; bools are not numbers here)."""
    if default is None:
        return True
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(default, bool) and isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float))
    if isinstance(default, (list, tuple)):
        return isinstance(value, (list, tuple))
    return isinstance(value, type(default))


def load_params_file(path: str | os.PathLike) -> dict[str, Any]:
    """A YAML mapping of notebook parameters; SystemExit naming the file (and line) when it cannot be used."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise SystemExit(f"tsin-nb reproduce: parameter file {path} does not exist")
    try:
        params = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f", line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise SystemExit(f"tsin-nb reproduce: {path}{where}: not valid YAML ({problem}); fix that line "
                         "(one 'name: value' per line)") from None
    except UnicodeDecodeError as err:
        raise SystemExit(f"tsin-nb reproduce: {path} is not UTF-8 text ({err})") from None
    if not isinstance(params, dict):
        raise SystemExit(f"tsin-nb reproduce: {path} must hold a mapping of parameter names to values")
    return params


def notebook_parameters(paths: Sequence[str | os.PathLike]) -> dict[str, list[tuple[str, Any]]]:
    """``name -> [(notebook, default value), ...]`` over the ``parameters`` cells of ``paths``."""
    import papermill as pm

    known: dict[str, list[tuple[str, Any]]] = {}
    for p in paths:
        for name, info in pm.inspect_notebook(str(p)).items():
            try:
                default = ast.literal_eval(info.get("default", "None"))
            except (ValueError, SyntaxError):
                default = None  # not a literal: any type is accepted
            known.setdefault(name, []).append((Path(p).stem, default))
    return known


def validate_params(params: Mapping[str, Any], known: Mapping[str, list[tuple[str, Any]]], source: str) -> None:
    """SystemExit listing every unknown name (with the closest known ones) and every value of the wrong type."""
    errors = []
    for name, value in params.items():
        if name not in known:
            close = difflib.get_close_matches(str(name), list(known), n=3, cutoff=0.6)
            hint = f"did you mean {' or '.join(repr(c) for c in close)}?" if close else \
                f"known parameters: {', '.join(sorted(known))}"
            errors.append(f"no notebook has a parameter {name!r} ({hint})")
        elif not any(_type_ok(value, d) for _, d in known[name]):
            nb, default = next((nb, d) for nb, d in known[name] if d is not None)
            kind = _KINDS.get(type(default), f"a {type(default).__name__}")
            errors.append(f"parameter {name!r} must be {kind} like its default {default!r} in {nb}, "
                          f"got {value!r} ({type(value).__name__})")
    if errors:
        raise SystemExit(f"tsin-nb reproduce: {source}: " + "; ".join(errors) + ". No notebook was run.")


def default_figures_dir(build: Path, repo: Path) -> Path:
    """The repository's ``figures/`` for the default build folder (``REPO/build``), else ``BUILD/figures``."""
    return repo / "figures" if build.resolve() == (repo / "build").resolve() else build / "figures"

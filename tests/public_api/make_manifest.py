"""Regenerate ``raven610_manifest.json``, the public names of every raven 6.10 module.

Run it by hand against an unpacked raven 6.10.0 source tree; tests only read the JSON::

    cd tests/public_api && python make_manifest.py /path/to/raven-6.10.0 > raven610_manifest.json

Nothing is imported: each module is read with ``ast``, so the manifest does not depend on which
optional libraries (Django, tornado, gevent, …) happen to be installed.

A module's public names are the union of:

1. the names in its ``__all__``;
2. the names the module binds itself at top level (``def``, ``class``, assignments), including
   inside top-level ``if``/``try``/``with`` blocks, where 6.10 defined its Python 2/3 variants,
   but skipping ``if`` branches that only run on Python 2 (``if PY2:``, ``LongSerializer``);
3. the imports that re-export something, which are:

   a. ``from raven… import name`` (and relative imports), when the module has no ``__all__``.
      Code patches names through such modules (``raven.handlers.logging.Client``). Names taken
      from ``raven.utils.compat`` are skipped, because every module imports those for itself;
   b. any import from raven marked ``# NOQA``, 6.10's own marker for "kept for export"
      (``raven.utils`` re-exports ``iteritems`` and ``string_types`` this way);
   c. in ``raven.utils.compat``, whose imports are its whole purpose: every ``from`` import and
      every ``import x as y`` (``import urllib.request as urllib2``);
   d. ``from raven.x import *``, expanded to raven.x's ``__all__`` when it has one, and else to
      raven.x's public names by these same rules;
4. the names in ``KNOWN_USES``: names the parse cannot see (bound by ``exec``) or stdlib and
   third-party imports that raven 6.10's test-suite patches or imports through the module
   (spec §20), so they must stay module attributes.

Excluded, as incidental: every other import (``import logging``, ``from threading import
local``, ``from _thread import get_ident as get_thread_ident``), which serves only the module's
own code; ``__future__`` imports; names that start with one underscore; ``__all__`` and
``__docformat__``; and Python 2 builtins re-bound for Python 3 (``basestring = str``).
"""

from __future__ import annotations

import ast
import json
import sys
import types
from pathlib import Path

KNOWN_USES: dict[str, set[str]] = {
    "raven.base": {"time"},  # tests patch raven.base.time.time
    "raven.transport.tornado": {"HTTPClient"},  # tests patch it
    "raven.utils.compat": {"raise_from"},  # defined by exec_() of a string; tests import it
    "raven.utils.testutils": {"BaseTestCase"},  # tests import it (unittest's TestCase, renamed)
}
COMPAT_MODULE = "raven.utils.compat"
NOISE = {"__all__", "__docformat__", "basestring", "unicode", "long", "xrange", "unichr"}


class Module:
    """One parsed module: its name, package, source lines and syntax tree."""

    def __init__(self, name: str, path: Path) -> None:
        self.name = name
        self.is_package = path.name == "__init__.py"
        self.package = name if self.is_package else name.rpartition(".")[0]
        source = path.read_text(encoding="utf-8")
        self.lines = source.splitlines()
        self.tree = ast.parse(source, str(path))


def discover(root: Path) -> dict[str, Module]:
    """Map every module under ``root/raven`` to its parsed source."""
    package_dir = root / "raven"
    if not (package_dir / "__init__.py").is_file():
        raise SystemExit(f"{root} is not an unpacked raven source tree (no raven/__init__.py)")
    modules = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        name = ".".join(parts)
        modules[name] = Module(name, path)
    return modules


def top_level_statements(body: list[ast.stmt]) -> list[ast.stmt]:
    """Flatten top-level compound statements (if/try/with/for), but not defs or classes."""
    flat: list[ast.stmt] = []
    for node in body:
        flat.append(node)
        if isinstance(node, ast.If):
            on_python3 = python3_truth(node.test)
            if on_python3 is not False:
                flat += top_level_statements(node.body)
            if on_python3 is not True:
                flat += top_level_statements(node.orelse)
        elif isinstance(node, (ast.For, ast.While)):
            flat += top_level_statements(node.body) + top_level_statements(node.orelse)
        elif isinstance(node, ast.With):
            flat += top_level_statements(node.body)
        elif isinstance(node, ast.Try):
            flat += top_level_statements(node.body)
            for handler in node.handlers:
                flat += top_level_statements(handler.body)
            flat += top_level_statements(node.orelse) + top_level_statements(node.finalbody)
    return flat


_PYTHON3 = {"PY2": False, "PY3": True, "sys": types.SimpleNamespace(version_info=(3, 9, 0))}


def python3_truth(test: ast.expr) -> bool | None:
    """Evaluate a Python-version test (``PY2``, ``sys.version_info >= (3, 2)``); None if other."""
    try:
        code = compile(ast.Expression(test), "<test>", "eval")
        return bool(eval(code, {"__builtins__": {}}, dict(_PYTHON3)))
    except Exception:
        return None


def target_names(target: ast.expr) -> list[str]:
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, (ast.Tuple, ast.List)):
        return [name for element in target.elts for name in target_names(element)]
    return []


def declared_all(module: Module) -> list[str] | None:
    names: list[str] | None = None
    for node in top_level_statements(module.tree.body):
        value = None
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        ):
            value, names = node.value, []
        elif (
            isinstance(node, ast.AugAssign)
            and isinstance(node.target, ast.Name)
            and node.target.id == "__all__"
        ):
            value = node.value
        if value is not None and names is not None:
            names += [str(item) for item in ast.literal_eval(value)]
    return names


def absolute_source(module: Module, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.package.split(".")
    if node.level > 1:
        base = base[: -(node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def is_public(name: str) -> bool:
    if name in NOISE:
        return False
    return not name.startswith("_") or (name.startswith("__") and name.endswith("__"))


class ManifestBuilder:
    def __init__(self, modules: dict[str, Module]) -> None:
        self.modules = modules
        self.done: dict[str, set[str]] = {}
        self.in_progress: set[str] = set()

    def star_exports(self, name: str) -> set[str]:
        module = self.modules.get(name)
        if module is None:
            return set()
        explicit = declared_all(module)
        return set(explicit) if explicit is not None else self.public_names(name)

    def public_names(self, name: str) -> set[str]:
        if name in self.done:
            return self.done[name]
        if name in self.in_progress:  # an import cycle: what is known so far is enough
            return set()
        self.in_progress.add(name)
        module = self.modules[name]
        explicit = declared_all(module)
        names = set(explicit or ()) | KNOWN_USES.get(name, set())

        for node in top_level_statements(module.tree.body):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, ast.Assign):
                for target in node.targets:
                    names.update(target_names(target))
            elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
                names.update(target_names(node.target))
            elif isinstance(node, ast.Import):
                if name == COMPAT_MODULE:
                    names.update(alias.asname for alias in node.names if alias.asname)
            elif isinstance(node, ast.ImportFrom):
                names |= self.from_import_names(module, node, explicit is not None)

        self.in_progress.discard(name)
        self.done[name] = {n for n in names if is_public(n)}
        return self.done[name]

    def from_import_names(self, module: Module, node: ast.ImportFrom, has_all: bool) -> set[str]:
        source = absolute_source(module, node)
        if source == "__future__":
            return set()
        from_raven = source == "raven" or source.startswith("raven.")
        if node.names[0].name == "*":
            return self.star_exports(source) if from_raven else set()

        marked = any(
            "noqa" in module.lines[line - 1].lower()
            for line in range(node.lineno, (node.end_lineno or node.lineno) + 1)
        )
        exported = module.name == COMPAT_MODULE or (
            from_raven and (marked or (not has_all and source != COMPAT_MODULE))
        )
        if not exported:
            return set()
        return {alias.asname or alias.name for alias in node.names}


def build(root: Path) -> dict[str, list[str]]:
    builder = ManifestBuilder(discover(root))
    return {name: sorted(builder.public_names(name)) for name in sorted(builder.modules)}


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    json.dump(build(Path(argv[1])), sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))

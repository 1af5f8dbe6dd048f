"""The layout holds: no import cycle in ``functions/``, and no module imports from a layer above.

The import graph is read with ``ast`` (every ``import`` and ``from ... import``, lazy ones and
``TYPE_CHECKING`` ones included), so it is the code as written, not what one run happens to load.
"""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "functions"

# Lowest first. A module may import from its own layer and the layers below it.
LAYERS = (
    "base",  # the top-level modules: config, errors, google_errors, logging_setup, crypto, ...
    "web",
    "consent",
    "grants",
    "gmail",
    "pipeline",
    "services",  # the composition root
    "handlers",  # and the CLI: the only modules that see the composition root
)
TOP_LEVEL_ABOVE_BASE = {
    "services": "services",
    "cli": "handlers",
    "risc_cli": "handlers",
    "smoke": "handlers",
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, module: str) -> set[str]:
    found: set[str] = set()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def _graph() -> dict[str, set[str]]:
    files = {_module_name(path): path for path in PACKAGE.rglob("*.py")}
    return {
        module: {name for name in _imports(path, module) if name in files and name != module}
        for module, path in files.items()
    }


def _layer(module: str) -> int:
    parts = module.split(".")
    if len(parts) == 1:  # functions itself
        return 0
    name = parts[1]
    if name in LAYERS:
        return LAYERS.index(name)
    return LAYERS.index(TOP_LEVEL_ABOVE_BASE.get(name, "base"))


def test_functions_has_no_import_cycle():
    graph = _graph()
    try:
        tuple(TopologicalSorter(graph).static_order())
    except CycleError as error:
        raise AssertionError(f"import cycle: {' -> '.join(error.args[1])}") from None


def test_no_module_imports_from_a_layer_above_it():
    upward = [
        f"{module} ({LAYERS[_layer(module)]}) imports {imported} ({LAYERS[_layer(imported)]})"
        for module, imports in sorted(_graph().items())
        for imported in sorted(imports)
        if _layer(imported) > _layer(module)
        and not (imported == "functions.services" and module in STILL_TAKING_SERVICES)
    ]
    assert upward == []


# Domain modules that take the whole ``Services`` instead of the collaborators they use: none.
# Each declares what it uses as a Protocol that ``Services`` satisfies.
STILL_TAKING_SERVICES: set[str] = set()


def _sees_services(module: str) -> bool:
    return module.startswith("functions.handlers.") or module == "functions.cli"


def test_only_the_handlers_and_the_cli_see_the_composition_root():
    importers = {module for module, imports in _graph().items() if "functions.services" in imports}
    assert {m for m in importers if not _sees_services(m)} == STILL_TAKING_SERVICES

"""The house rules that keep the package easy to live in, checked on the source itself.

Data flows one way (catalogue -> HTTP -> pages -> typed Arrow -> dlt -> warehouse -> SQL views -> reports), and so
do imports: no module imports from a stage downstream of it, and the simulator knows only the catalogue."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "pipelines" / "openai_usage"

# Upstream first. A module may import its own stage and any stage above it, never one below.
STAGES = [
    {"errors", "timeutil"},
    {"catalogue", "summary"},  # a run's summary is kept per table and organization, named as the catalogue names them
    {"extract"},
    # what a run reads (ranges, held rows, whose API), and the warehouse brought up to the contracts before it asks
    {"plan", "restatements", "organizations", "upgrade", "lake"},
    {"source"},
    {"load"},
    {"transform"},
    {"reports"},
    {"cli"},
]
SIMULATOR_MAY_IMPORT = {"catalogue", "timeutil", "errors", "simulator"}


def _stage(unit: str) -> int:
    return next(i for i, units in enumerate(STAGES) if unit in units)


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, first package-level name) of every import of this package from `path`, lazy imports included."""
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = list(parts[:-node.level]) if node.level <= len(parts) - 1 else []
            target = [*base, *(node.module.split(".") if node.module else [])]
            names = [target[0]] if target else [a.name for a in node.names]
            found += [(node.lineno, n) for n in names]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("openai_usage."):
            found.append((node.lineno, node.module.split(".")[1]))
    return found


def test_imports_flow_one_way() -> None:
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        unit = path.relative_to(PACKAGE).parts[0].removesuffix(".py")
        if unit == "__init__":
            continue  # the package root re-exports the source for `from openai_usage import openai_usage_source`
        for line, target in _imports(path):
            if unit == "simulator":
                if target not in SIMULATOR_MAY_IMPORT:
                    wrong.append(f"{path.relative_to(PACKAGE)}:{line} simulator imports {target}")
            elif target == "simulator":
                if unit not in {"cli"}:
                    wrong.append(f"{path.relative_to(PACKAGE)}:{line} only the CLI serves the simulator")
            elif _stage(target) > _stage(unit):
                wrong.append(f"{path.relative_to(PACKAGE)}:{line} {unit} imports {target}, downstream of it")
    assert not wrong, "\n".join(wrong)


def test_every_module_is_in_a_stage() -> None:
    units = {p.relative_to(PACKAGE).parts[0].removesuffix(".py") for p in PACKAGE.rglob("*.py")}
    assert units - {"__init__", "simulator"} <= set().union(*STAGES)

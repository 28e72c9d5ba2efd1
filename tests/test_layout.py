"""The package's dependency rule, checked on the source with `ast`: the algorithm, networks, data and
environments know nothing of run directories, experiments, plots or the command line, and the fast path is
reached only through the learner."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "deepq"
CORE = ("algo", "nets", "data", "envs", "fast")
OUTER = ("deepq.run", "deepq.experiments", "deepq.viz", "deepq.cli", "deepq.train")


def imports(path: Path) -> set[str]:
    """Every module a file imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def test_the_core_imports_nothing_from_the_outer_layers():
    bad = []
    for sub in CORE:
        for path in (PACKAGE / sub).rglob("*.py"):
            bad += [f"{path.relative_to(PACKAGE)} imports {m}" for m in sorted(imports(path))
                    if m.startswith(OUTER)]
    assert not bad, bad


def test_the_fast_path_is_reached_only_through_the_learner():
    users = sorted(str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py")
                   if p.parent.name != "fast" and any(m.startswith("deepq.fast") for m in imports(p)))
    assert users == ["algo/learner.py"], users


def test_every_subpackage_says_what_it_holds():
    for sub in ("algo", "fast", "nets", "data", "envs", "evaluation", "run", "config", "experiments", "viz"):
        doc = ast.get_docstring(ast.parse((PACKAGE / sub / "__init__.py").read_text()))
        assert doc, f"deepq/{sub}/__init__.py has no docstring"

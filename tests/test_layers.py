"""The packages form layers that point one way, and no module imports itself in a circle.

Every import is read from the source (including those inside functions), so a lazy import
cannot hide a cycle."""
from __future__ import annotations

import ast

from tests.conftest import REPO

# Lower layers never import higher ones; packages of one layer do not import each other.
# Names are subpackages (or modules) of ``bodyfit``; ``__init__`` is the package itself.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("resources", "__init__"),
    ("fileio", "geometry"),
    ("bodymodels", "rendering"),
    ("vposer",),
    ("priors", "collision", "detect", "motion", "report"),
    ("regressor", "quality", "gender"),
    ("fitting",),
    ("pipeline",),
    ("spin", "video"),
    ("multiview",),
    ("api",),
    ("cli",),
    ("__main__",),
)
PACKAGES = {name: rank for rank, layer in enumerate(LAYERS) for name in layer}
TOP_LEVEL = ("benchmarks", "tools", "tests")  # above every package, with the scripts (fit.py, ...)
PACKAGE = REPO / "bodyfit"


def module_name(path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_modules() -> dict[str, object]:
    paths = list(PACKAGE.rglob("*.py")) + [p for root in TOP_LEVEL for p in (REPO / root).rglob("*.py")]
    paths += list(REPO.glob("*.py"))
    return {module_name(p): p for p in paths}


def imports_of(path, modules: dict[str, object]) -> set[str]:
    """Project modules that ``path`` imports (``from a import b`` counts a.b when that is a module)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        found.update(name for name in names if name in modules)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = project_modules()
    return {name: imports_of(path, modules) - {name} for name, path in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a list of nodes, or None."""
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def package_of(module: str) -> str:
    """``bodyfit.fitting.core`` -> ``fitting``; ``bodyfit`` -> ``__init__``; ``tools.bvh`` -> ``tools``."""
    parts = module.split(".")
    if parts[0] != "bodyfit":
        return parts[0]
    return parts[1] if len(parts) > 1 else "__init__"


def test_cycle_finder_finds_a_planted_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_no_module_imports_itself_in_a_circle():
    graph = import_graph()
    assert len(graph) > 50  # the walk sees the project
    assert find_cycle(graph) is None


def test_no_cycle_between_packages():
    packages: dict[str, set[str]] = {}
    for module, targets in import_graph().items():
        packages.setdefault(package_of(module), set()).update(package_of(t) for t in targets)
    assert find_cycle({name: uses - {name} for name, uses in packages.items()}) is None


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    """Imports of ``graph`` by a library package of anything but its own package or a lower
    layer's (the scripts, benchmarks, tools and tests are above every package)."""
    wrong = []
    for module, targets in graph.items():
        source = package_of(module)
        if source not in PACKAGES:
            continue
        for target in targets:
            goal = package_of(target)
            if goal != source and (goal not in PACKAGES or PACKAGES[goal] >= PACKAGES[source]):
                wrong.append(f"{module} -> {target}")
    return wrong


def test_layer_check_finds_planted_violations():
    assert upward_imports({"bodyfit.fileio.images": {"bodyfit.fitting.tasks"},
                           "bodyfit.fitting.core": {"bodyfit.fileio.images"}}) == [
        "bodyfit.fileio.images -> bodyfit.fitting.tasks"]
    assert upward_imports({"bodyfit.priors.factory": {"bodyfit.collision.term"}}) == [
        "bodyfit.priors.factory -> bodyfit.collision.term"]
    assert upward_imports({"bodyfit.pipeline.images": {"benchmarks.speed"}}) == [
        "bodyfit.pipeline.images -> benchmarks.speed"]
    assert upward_imports({"bodyfit.resources": {"bodyfit.fileio.atomic"}}) == [
        "bodyfit.resources -> bodyfit.fileio.atomic"]


def test_layers_point_down():
    assert not upward_imports(import_graph())


def test_every_python_folder_is_in_a_layer():
    """A new package must be placed in ``LAYERS`` (or listed with the top-level folders)."""
    inside = {package_of(module_name(path)) for path in PACKAGE.rglob("*.py")}
    outside = {path.relative_to(REPO).parts[0] for path in REPO.glob("*/**/*.py")} - {"bodyfit", "build", "dist"}
    assert not inside - set(PACKAGES)
    assert not {f for f in outside if not f.startswith(".")} - set(TOP_LEVEL)


def test_the_bottom_layers_import_nothing_above_them():
    graph = import_graph()
    below_fileio = {"fileio", "resources"}
    assert not {t for m, ts in graph.items() if package_of(m) == "fileio" for t in ts if package_of(t) not in below_fileio}
    assert not {t for m, ts in graph.items() if package_of(m) == "resources" for t in ts}


def test_the_library_never_imports_the_checkout():
    """Nothing inside the installed package reaches the repository's tools, benchmarks or tests."""
    graph = import_graph()
    assert not {f"{m} -> {t}" for m, ts in graph.items() if m.startswith("bodyfit") for t in ts
                if not t.startswith("bodyfit")}

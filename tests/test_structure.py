"""The package's shape: imports flow one way, modules stay small, importing changes nothing global."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import camcast
from camcast.server.routes import HANDLERS
from camcast.server.urls import ROUTES

ROOT = Path(camcast.__file__).parent
#: Modules of one idea stay short (STYLE.md: mostly under 400 lines).
MAX_LINES = 400


def modules() -> dict[str, Path]:
    found = {}
    for path in ROOT.rglob("*.py"):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def imports_of(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The package's modules ``name`` imports, anywhere in it (in functions too): an import inside a
    function is still a dependency."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name in known}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                if sub in known:
                    found.add(sub)
                elif base in known:
                    found.add(base)
    found.discard(name)
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, edges = work[-1]
            for nxt in edges:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph[nxt]))))
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    group = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.append(member)
                        if member == node:
                            break
                    if len(group) > 1:
                        found.append(sorted(group))
    return found


def test_cycle_finder_finds_a_cycle() -> None:
    """The check below can fail: a three-module circle is found, a chain is not."""
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_no_import_cycle_in_the_package() -> None:
    """No module imports, directly or through others, a module that imports it back."""
    known = modules()
    graph = {name: imports_of(name, path, known) for name, path in known.items()}
    assert cycles(graph) == []


def test_no_import_cycle_between_packages() -> None:
    """Nor does a package (camcast.server, camcast.rtsp, ...) or top-level module import, through its
    modules, a package that imports it back: each capability has one door, and nothing borrows the
    internals of another that depends on it."""
    known = modules()

    def unit(name: str) -> str:
        return ".".join(name.split(".")[:2])

    graph: dict[str, set[str]] = {}
    for name, path in known.items():
        graph.setdefault(unit(name), set()).update(
            unit(dep) for dep in imports_of(name, path, known) if unit(dep) != unit(name)
        )
    assert cycles(graph) == []


def test_the_hub_depends_on_neither_encoders_nor_sources() -> None:
    """Frames flow source -> hub -> renditions: the hub imports no encoder and no source module."""
    known = modules()
    deps = imports_of("camcast.hub", known["camcast.hub"], known)
    assert not [d for d in deps if d.startswith(("camcast.encode", "camcast.sources"))]


def test_modules_are_short() -> None:
    """No module is over MAX_LINES lines."""
    long = {
        name: n for name, path in modules().items() if (n := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}


def test_every_route_has_one_handler() -> None:
    """The route table and the handlers name the same routes."""
    assert set(HANDLERS) == {r.name for r in ROUTES}


def test_importing_the_server_changes_nothing_global() -> None:
    """Importing the whole server leaves aioice as it was; its ICE hook comes with a server's start."""
    probe = (
        "import aioice.ice; before = aioice.ice.get_host_addresses\n"
        "import camcast.server, camcast.server.runner, camcast.app\n"
        "assert aioice.ice.get_host_addresses is before\n"
        "from camcast.server.webrtc import ice; ice.install()\n"
        "assert aioice.ice.get_host_addresses is not before\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr

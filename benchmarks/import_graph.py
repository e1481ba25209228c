"""The package's import graph: cycles, the layer order, and file sizes (the structure checks).

    python benchmarks/import_graph.py            # prints the module graph summary; exit 1 on a violation

Checks, from the source files' ASTs (no module is imported):

* no import cycle between modules of ``gannorm`` (any import, at module level or inside a function);
* imports flow one way between layers: data -> models -> metrics -> train / evaluate -> studies ->
  report (a lower layer never imports a higher one; ``train`` and ``evaluate`` do not import each
  other); the top-level helpers (``io``, ``config``, ``provenance``, ``gpu``, ``cli``) are outside the
  layers, and only ``cli`` may import every layer;
* ``report/`` has at most 2,600 lines and no source file has more than 500;
* no file under ``report/`` compares with an architecture name (``"dcgan"``, ``"iwgan"``, ...).
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "src" / "gannorm"
LAYERS = ["data", "models", "metrics", "train|evaluate", "studies", "report"]
ARCHITECTURES = ("dcgan", "resnet", "mlp", "iwgan", "wgan_resnet", "sr", "toy2d")
MAX_REPORT_LINES = 2600
MAX_FILE_LINES = 500


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imports(path: Path) -> set[str]:
    """Every ``gannorm`` module imported anywhere in ``path``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("gannorm"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            if name.startswith("gannorm"):
                out.add(name)
                out.update(f"{name}.{a.name}" for a in node.names)
    return out


def graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in ROOT.rglob("*.py")}
    edges: dict[str, set[str]] = defaultdict(set)
    for name, path in modules.items():
        for target in imports(path):
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name and not name.startswith(target + "."):
                edges[name].add(target)
    return {m: edges.get(m, set()) for m in modules}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in edges:
        if v not in index:
            visit(v)
    return out


def layer(module: str) -> int | None:
    parts = module.split(".")
    if len(parts) < 2:
        return None
    for i, names in enumerate(LAYERS):
        if parts[1] in names.split("|"):
            return i
    return None


def layer_violations(edges: dict[str, set[str]]) -> list[str]:
    out = []
    for src, targets in edges.items():
        ls = layer(src)
        for dst in targets:
            ld = layer(dst)
            if ls is None or ld is None:
                continue
            if ld > ls or (ld == ls and src.split(".")[1] != dst.split(".")[1]):
                out.append(f"{src} -> {dst}")
    return sorted(out)


def architecture_branches() -> list[str]:
    out = []
    for path in sorted((ROOT / "report").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Compare):
                for side in [node.left, *node.comparators]:
                    if isinstance(side, ast.Constant) and side.value in ARCHITECTURES:
                        out.append(f"{path.relative_to(ROOT.parent)}:{node.lineno}: compares with {side.value!r}")
                    if isinstance(side, (ast.Tuple, ast.List, ast.Set)):
                        for elt in side.elts:
                            if isinstance(elt, ast.Constant) and elt.value in ARCHITECTURES:
                                out.append(f"{path.relative_to(ROOT.parent)}:{node.lineno}: compares with "
                                           f"{elt.value!r}")
    return out


def main() -> int:
    edges = graph()
    problems = []
    for comp in cycles(edges):
        problems.append("import cycle: " + " <-> ".join(comp))
    problems += [f"layer order: {v}" for v in layer_violations(edges)]
    report_lines = sum(len(p.read_text().splitlines()) for p in (ROOT / "report").rglob("*.py"))
    print(f"report/: {report_lines} lines (limit {MAX_REPORT_LINES})")
    if report_lines > MAX_REPORT_LINES:
        problems.append(f"report/ has {report_lines} lines, over {MAX_REPORT_LINES}")
    for path in sorted(ROOT.rglob("*.py")):
        n = len(path.read_text().splitlines())
        if n > MAX_FILE_LINES:
            problems.append(f"{path.relative_to(ROOT.parent)}: {n} lines, over {MAX_FILE_LINES}")
    problems += architecture_branches()
    total = sum(len(p.read_text().splitlines()) for p in ROOT.rglob("*.py"))
    print(f"{len(edges)} modules, {sum(map(len, edges.values()))} imports, {total} source lines")
    for line in problems:
        print(line)
    print(f"{len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

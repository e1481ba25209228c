"""The architecture registry is the only place that knows architectures by name: no comparison with
an architecture's name, no table keyed by them and no default architecture anywhere else in the
package (checked on the AST). A comparison of a dataset ``source`` (the ``toy2d`` source shares the
2-D architecture's name) is about data, not architectures, and is not counted."""

from __future__ import annotations

import ast
from pathlib import Path

from gannorm.models.architectures import registry

SRC = Path(__file__).resolve().parents[1] / "src" / "gannorm"
#: The modules that hold the registries themselves.
REGISTRIES = {"models/architectures.py", "models/norms.py", "models/variant.py"}
#: Study modules are records of the studies registry: one may declare, per architecture it trains,
#: its variant list and its sources' effects (tables of data, never dispatch); no comparison there either.
RECORDS = "studies/"


def _strings(node: ast.AST) -> list[str]:
    """String constants of a comparison operand (a literal, or a tuple/list/set of literals)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return [s for elt in node.elts for s in _strings(elt)]
    return []


def _violations(names: set[str], *, defaults: bool) -> list[str]:
    found = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).as_posix()
        if rel in REGISTRIES:
            continue
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Compare):
                if any("source" in ast.unparse(operand) for operand in (node.left, *node.comparators)):
                    continue
                for operand in (node.left, *node.comparators):
                    for s in _strings(operand):
                        if s in names:
                            found.append(f"{rel}:{node.lineno}: compares with {s!r}")
            if defaults and isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                    and node.func.attr in ("get", "setdefault", "pop") and len(node.args) == 2:
                key, default = node.args
                if isinstance(key, ast.Constant) and key.value == "architecture" and _strings(default):
                    found.append(f"{rel}:{node.lineno}: a default architecture {_strings(default)[0]!r}")
            if isinstance(node, ast.Dict) and not rel.startswith(RECORDS):
                keys = {s for k in node.keys if k is not None for s in _strings(k)}
                if len(names & keys) > 1:
                    found.append(f"{rel}:{node.lineno}: a table keyed by architecture names")
    return found


def test_no_architecture_name_is_compared_outside_the_registry():
    assert _violations(set(registry()), defaults=True) == []


def test_the_check_finds_a_comparison(tmp_path, monkeypatch):
    """The AST walk flags what it should (a check that can fail)."""
    bad = tmp_path / "gannorm"
    bad.mkdir()
    (bad / "bad.py").write_text('def f(spec, source):\n    a = spec.get("architecture", "dcgan")\n'
                                '    b = {"dcgan": 1, "mlp": 2}[a]\n'
                                '    return a == "wgan_resnet" or a in ("sr", "toy2d") or source == "toy2d"\n')
    monkeypatch.setattr(__import__(__name__), "SRC", bad)
    found = _violations(set(registry()), defaults=True)
    assert len(found) == 5, found  # the default, the table, wgan_resnet, sr and toy2d; not the source

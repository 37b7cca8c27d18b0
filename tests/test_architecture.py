"""The package's layers, checked by walking every import of hiddenpop/ with ``ast`` (docs/architecture.md).

Layers, bottom to top: ``hiddenpop`` (errors, _checks) → the library packages (spatial, referrals,
rds, weights, simulate, report) → ``io`` → ``commands`` and ``cli``. A module may import its own
layer and the layers below, never a layer above; the import graph has no cycle (imports inside
functions count: a lazy import still couples two modules); no module imports another module's
private (``_name``) object. Two more rules of docs/architecture.md are walked the same way: every
``click.Choice`` that lists a library registry's names is built from that registry, and only the
owners of the design manifest read the manifest dict (everything else asks ``FirstStageDesign``).
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "hiddenpop"

def _modules(root: Path) -> dict[str, Path]:
    out = {}
    for p in root.rglob("*.py"):
        parts = list(p.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = p
    return out


def import_graph(root: Path = ROOT) -> tuple[dict[str, set[str]], list[tuple[str, str, str]]]:
    """Module → the hiddenpop modules it imports (anywhere in the file); and private imports."""
    mods = _modules(root)
    edges: dict[str, set[str]] = {}
    private = []
    for name, path in mods.items():
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                for a in node.names:
                    if a.name.split(".")[0] == "hiddenpop":
                        targets.add(a.name if a.name in mods else a.name.rsplit(".", 1)[0])
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module \
                    and node.module.split(".")[0] == "hiddenpop":
                for a in node.names:
                    sub = f"{node.module}.{a.name}"
                    target = sub if sub in mods else node.module  # `from pkg import module` or a name
                    targets.add(target)
                    if (target == node.module != name and a.name.startswith("_")
                            and not (a.name.startswith("__") and a.name.endswith("__"))):
                        private.append((name, node.module, a.name))
        targets.discard(name)
        edges[name] = {t for t in targets if t in mods}
    return edges, private


def layer(module: str) -> int:
    """0: base; 1: library packages; 2: io; 3: commands and cli."""
    parts = module.split(".")
    if module in ("hiddenpop", "hiddenpop.errors", "hiddenpop._checks"):
        return 0
    if parts[1] == "io":
        return 2
    if parts[1] in ("commands", "cli"):
        return 3
    return 1


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    counter = 0
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            v, it = work[-1]
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(edges.get(w, ())))))
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        comp.append(w)
                        if w == v:
                            break
                    if len(comp) > 1:
                        found.append(sorted(comp))
    return found


EDGES, PRIVATE = import_graph()


def test_the_walk_sees_the_package():
    # the walk must find the modules and the imports we know of, or the other tests prove nothing
    assert {"hiddenpop.io.store", "hiddenpop.referrals.intake", "hiddenpop.cli"} <= set(EDGES)
    assert "hiddenpop.referrals.intake" in EDGES["hiddenpop.io.store"]
    assert "hiddenpop.rds.estimators" in EDGES["hiddenpop.rds.bootstrap"]


def test_no_import_cycle():
    assert cycles(EDGES) == []


def test_no_upward_import():
    upward = sorted((m, t) for m, ts in EDGES.items() for t in ts if layer(t) > layer(m))
    assert upward == [], "lower layers must not import io or commands: " + repr(upward)


def test_no_private_name_imported_across_modules():
    assert sorted(set(PRIVATE)) == []


@pytest.mark.parametrize("edges,expected", [
    ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}, [["a", "b", "c"]]),
    ({"a": {"b"}, "b": set()}, []),
])
def test_cycle_finder_on_hand_made_graphs(edges, expected):
    assert cycles(edges) == expected


def test_checks_would_catch_the_old_layout(tmp_path):
    # the layout before issue 9: io.referrals and io.store imported each other, and the field-status
    # module of the estimators reached up into io. Rebuilt as a tiny package, both are caught.
    pkg = tmp_path / "hiddenpop"
    for rel, text in {"__init__.py": "", "io/__init__.py": "", "rds/__init__.py": "",
                      "io/referrals.py": "def f():\n    from hiddenpop.io.store import DERIVED_COLUMNS\n",
                      "io/store.py": "from hiddenpop.io.referrals import CORE_COLUMNS\n",
                      "rds/fieldstatus.py": "from hiddenpop.io.store import _X\n"}.items():
        (pkg / rel).parent.mkdir(parents=True, exist_ok=True)
        (pkg / rel).write_text(text)
    edges, private = import_graph(pkg)
    assert cycles(edges) == [["hiddenpop.io.referrals", "hiddenpop.io.store"]]
    assert [(m, t) for m, ts in edges.items() for t in ts if layer(t) > layer(m)] == \
        [("hiddenpop.rds.fieldstatus", "hiddenpop.io.store")]
    assert private == [("hiddenpop.rds.fieldstatus", "hiddenpop.io.store", "_X")]


def test_every_registry_choice_of_the_cli_resolves():
    # each --option built from a library registry names an existing registry, and offers its names
    import click

    from hiddenpop.cli import main
    from hiddenpop.commands._common import RegistryChoice

    found = []

    def walk(cmd, ctx):
        for p in cmd.params:
            if isinstance(p.type, RegistryChoice):
                found.append(p.type)
        if isinstance(cmd, click.Group):
            for name in cmd.list_commands(ctx):
                walk(cmd.get_command(ctx, name), ctx)

    walk(main, click.Context(main))
    assert len(found) >= 10   # estimate --stat/--variance/--lonely-psu are spelled out (test_cli_vocabulary)
    for t in found:
        assert t.choices and not set(t.exclude) & set(t.choices), t.registry
    from hiddenpop.weights.referral import REFERRAL_METHODS
    assert any(t.choices == tuple(REFERRAL_METHODS) for t in found)


def _literal_names(node: ast.AST) -> tuple[str, ...] | None:
    """The names a literal spells: a tuple/list of strings, the string keys of a dict, ``list(...)`` of those."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("list", "tuple") \
            and len(node.args) == 1:
        return _literal_names(node.args[0])
    items = node.elts if isinstance(node, (ast.Tuple, ast.List)) else node.keys if isinstance(node, ast.Dict) else None
    if not items or not all(isinstance(v, ast.Constant) and isinstance(v.value, str) for v in items):
        return None
    return tuple(v.value for v in items)


def library_registries(root: Path = ROOT) -> dict[str, tuple[str, ...]]:
    """``module:NAME`` → names, for every registry below ``io``: a module-level UPPER_CASE tuple or list
    of strings, a dict with string keys, or a string ``Enum`` class."""
    out = {}
    for name, path in _modules(root).items():
        if layer(name) > 1:
            continue
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
                for t in (node.targets if isinstance(node, ast.Assign) else [node.target]):
                    names = _literal_names(node.value)
                    if isinstance(t, ast.Name) and t.id.isupper() and names:
                        out[f"{name}:{t.id}"] = names
            elif isinstance(node, ast.ClassDef) and any(ast.unparse(b).endswith("Enum") for b in node.bases):
                names = tuple(s.value.value for s in node.body if isinstance(s, ast.Assign)
                              and isinstance(s.value, ast.Constant) and isinstance(s.value.value, str))
                if names:
                    out[f"{name}:{node.name}"] = names
    return out


def literal_choices(root: Path = ROOT) -> list[tuple[str, int, str, tuple[str, ...]]]:
    """Every ``click.Choice`` of ``commands``/``cli`` whose choices are spelled out in the source:
    (module, line, ``"inline"`` or the constant's name, names). Constants of another commands module
    imported by name are followed."""
    mods = {n: p for n, p in _modules(root).items() if layer(n) == 3}
    trees = {n: ast.parse(p.read_text(encoding="utf-8")) for n, p in mods.items()}
    consts = {n: {t.id: _literal_names(node.value) for node in tree.body if isinstance(node, ast.Assign)
                  for t in node.targets if isinstance(t, ast.Name) and _literal_names(node.value)}
              for n, tree in trees.items()}
    found = []
    for n, tree in trees.items():
        known = dict(consts[n])
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module in consts:
                known.update({a.asname or a.name: consts[node.module][a.name] for a in node.names
                              if a.name in consts[node.module]})
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and ast.unparse(node.func) in ("click.Choice", "Choice") and node.args):
                continue
            arg = node.args[0]
            arg = arg.args[0] if isinstance(arg, ast.Call) and ast.unparse(arg.func) in ("list", "tuple") else arg
            if _literal_names(arg):
                found.append((n, node.lineno, "inline", _literal_names(arg)))
            elif isinstance(arg, ast.Name) and arg.id in known:
                found.append((n, node.lineno, arg.id, known[arg.id]))
    return found


def choices_not_from_their_registry(root: Path = ROOT) -> list[str]:
    """A choice spelled out inline that is exactly a library registry's set of names (build it from the
    registry: RegistryChoice, or import the registry), or a spelled-out constant listing a registry's
    names in another order (the help text would not follow the library)."""
    registries = library_registries(root)
    bad = []
    for module, line, how, names in literal_choices(root):
        same = [r for r, v in registries.items() if set(v) == set(names)]
        if same and how == "inline":
            bad.append(f"{module}:{line}: {list(names)} is the registry {same[0]}")
        elif same and all(registries[r] != names for r in same):
            bad.append(f"{module}:{line}: {how} = {names} lists {same[0]} in another order")
    return bad


def test_every_cli_choice_that_names_a_registry_is_built_from_it():
    assert choices_not_from_their_registry() == []
    # the walk sees what it must: registries of every kind, and the spelled-out constants of the commands
    reg = library_registries()
    assert reg["hiddenpop.weights.replicates:REPLICATE_METHODS"] == ("bootstrap", "jk1", "jkn")   # a dict
    assert reg["hiddenpop.weights.design:LonelyPSU"][0] == "fail"                                  # an Enum
    assert reg["hiddenpop.referrals.schema:IMPORT_FORMATS"][0] == "auto"                           # a tuple
    assert {how for *_, how, _ in literal_choices()} >= {"inline", "LONELY_PSU", "ESTIMATORS"}


def test_registry_check_would_catch_the_old_replicates_option(tmp_path):
    # before issue 9: weights compute --replicates spelled out a list the registry holds (in another order)
    pkg = tmp_path / "hiddenpop"
    for rel, text in {"__init__.py": "", "weights/__init__.py": "", "commands/__init__.py": "",
                      "weights/replicates.py": "REPLICATE_METHODS = {'jk1': 1, 'jkn': 2, 'bootstrap': 3}\n",
                      "commands/weights.py": "import click\nORDER = ('bootstrap', 'jk1', 'jkn')\n"
                                             "a = click.Choice(['bootstrap', 'jk1', 'jkn'])\n"
                                             "b = click.Choice(ORDER)\nc = click.Choice(['bootstrap', 'jk1'])\n"}.items():
        (pkg / rel).parent.mkdir(parents=True, exist_ok=True)
        (pkg / rel).write_text(text)
    assert choices_not_from_their_registry(pkg) == [
        "hiddenpop.commands.weights:3: ['bootstrap', 'jk1', 'jkn'] is the registry "
        "hiddenpop.weights.replicates:REPLICATE_METHODS",
        "hiddenpop.commands.weights:4: ORDER = ('bootstrap', 'jk1', 'jkn') lists "
        "hiddenpop.weights.replicates:REPLICATE_METHODS in another order"]


#: the modules that may read the manifest dict: its writer and decoders (spatial.designs), its typed
#: reading (spatial.inclusion.FirstStageDesign) and the file reader that builds it (io.spatial)
MANIFEST_OWNERS = {"hiddenpop.spatial.designs", "hiddenpop.spatial.inclusion", "hiddenpop.io.spatial"}
_DICT_METHODS = {"get", "items", "keys", "values", "setdefault", "pop", "update", "copy"}


def _is_manifest(node: ast.AST) -> bool:
    """A name or attribute that holds a manifest dict by the package's naming (``manifest``,
    ``design_manifest``, ``man``, ``x.manifest``)."""
    name = node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else ""
    return name == "man" or "manifest" in name.split("_")


def manifest_reads(root: Path = ROOT, owners: set[str] = MANIFEST_OWNERS) -> list[str]:
    """Every place outside ``owners`` that subscripts a manifest dict or calls a dict method on it
    (``manifest["strata"]``, ``man.get("radius_m")``, ``inputs.manifest.items()``)."""
    found = []
    for name, path in sorted(_modules(root).items()):
        if name in owners:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Subscript) and _is_manifest(node.value):
                found.append(f"{name}:{node.lineno}: {ast.unparse(node)}")
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                    and node.func.attr in _DICT_METHODS and _is_manifest(node.func.value):
                found.append(f"{name}:{node.lineno}: {ast.unparse(node)}")
    return found


def test_only_the_owners_read_the_manifest_dict():
    # everything else asks FirstStageDesign (hiddenpop.spatial.inclusion; io.spatial.read_design builds it)
    assert manifest_reads() == []
    # the owners themselves do read it, and the walk sees those reads
    owned = {r.split(":")[0] for r in manifest_reads(owners=set())}
    assert owned == {"hiddenpop.spatial.designs", "hiddenpop.spatial.inclusion"}


def test_manifest_check_would_catch_the_old_report(tmp_path):
    # before issue 9: the report decoded the manifest dict itself
    pkg = tmp_path / "hiddenpop"
    for rel, text in {"__init__.py": "", "report/__init__.py": (
            "def summary(inputs):\n    man = inputs.manifest or {}\n    strata = man.get('strata') or {}\n"
            "    return man['radius_m'], inputs.manifest['n_total'], len(strata)\n"),
            "spatial/__init__.py": "", "spatial/inclusion.py": "def f(manifest):\n    return manifest['crs']\n"}.items():
        (pkg / rel).parent.mkdir(parents=True, exist_ok=True)
        (pkg / rel).write_text(text)
    assert manifest_reads(pkg) == ["hiddenpop.report:3: man.get('strata')", "hiddenpop.report:4: man['radius_m']",
                                   "hiddenpop.report:4: inputs.manifest['n_total']"]

"""The import contracts in .importlinter hold, and a broken one names the offending import.

Each contract is checked on its own (`lint-imports --contract ID`), so a failure here is
called test_contract_holds[<contract id>] and carries lint-imports' report: the import chain,
module by module, with line numbers. import-linter's acyclic contract names packages only,
so test_no_import_cycles_in_services lists each cycle import by import.
"""
import configparser
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / ".importlinter"


def _contract_ids():
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(CONFIG)
    return [s.removeprefix("importlinter:contract:") for s in parser.sections()
            if s.startswith("importlinter:contract:")]


def lint_imports(*args, cwd):
    """Runs this venv's lint-imports in `cwd` (which it puts first on sys.path)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["COLUMNS"] = "200"  # rich wraps at 80 columns otherwise, splitting import chains
    return subprocess.run(
        [sys.executable, "-c", "from importlinter.cli import lint_imports_command as c; c()",
         "--no-cache", "--no-logo", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=60)


# (a) The contracts hold -------------------------------------------------------------------

def test_every_contract_is_checked():
    assert len(_contract_ids()) >= 6, _contract_ids()


@pytest.mark.parametrize("contract", _contract_ids())
def test_contract_holds(contract):
    result = lint_imports("--contract", contract, cwd=ROOT)
    assert result.returncode == 0, f"contract {contract!r} is broken:\n{result.stdout}{result.stderr}"


def _import_lines(graph, importer, imported):
    details = graph.get_import_details(importer=importer, imported=imported)
    return ", ".join(f"l.{d['line_number']}: {d['line_contents']}" for d in details) or "?"


def _strongly_connected(nodes, edges):
    """Tarjan's strongly connected components of size > 1 (or with a self-loop)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(edges.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1 or node in edges.get(node, ()):
                found.append(sorted(component))

    for node in sorted(nodes):
        if node not in index:
            visit(node)
    return found


def find_cycles(graph, package):
    """Cycles among the children of `package` (each child with its descendants), then inside
    each child, like import-linter's acyclic_siblings; `package`'s own __init__ counts as one
    more member, so an __init__ that imports a module which imports it back is a cycle too.
    Returns one text block per cycle: every import between its members, with line numbers."""
    children = sorted(graph.find_children(package))
    members = {child: {child} | graph.find_descendants(child) for child in children}
    members[package + " (__init__)"] = {package}
    owner = {module: member for member, modules in members.items() for module in modules}
    edges, imports = {}, {}
    for member, modules in members.items():
        for importer in sorted(modules):
            for imported in sorted(graph.find_modules_directly_imported_by(importer)):
                target = owner.get(imported)
                if target is None or target == member:
                    continue
                edges.setdefault(member, set()).add(target)
                imports.setdefault((member, target), []).append((importer, imported))
    reports = []
    for component in _strongly_connected(members, edges):
        lines = [f"cycle between {', '.join(component)}:"]
        for (source, target), pairs in sorted(imports.items()):
            if source in component and target in component:
                lines += [f"  {a} -> {b} ({_import_lines(graph, a, b)})" for a, b in pairs]
        reports.append("\n".join(lines))
    for child in children:
        reports += find_cycles(graph, child)
    return reports


def test_no_import_cycles_in_services():
    graph = grimp.build_graph("services", cache_dir=None)
    cycles = find_cycles(graph, "services")
    assert not cycles, "import cycles in services/:\n" + "\n".join(cycles)


# (b) A broken contract names the import ---------------------------------------------------

def _write_tree(root, files):
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))


@pytest.fixture
def fake_project(tmp_path):
    """A services/ tree shaped like the real one, with this repository's .importlinter."""
    packages = ["services", "panel"] + [f"services/{p}" for p in
                                        ("core", "crm", "followups", "delivery", "chat", "ops",
                                         "inbox", "shop", "payments")]
    _write_tree(tmp_path, {f"{p}/__init__.py": "" for p in packages})
    (tmp_path / ".importlinter").write_text(CONFIG.read_text())
    return tmp_path


def test_forbidden_framework_import_is_named(fake_project):
    _write_tree(fake_project, {
        "services/core/clock.py": """\
            import datetime
            import telebot
            """,
    })
    result = lint_imports("--contract", "services-no-ui-frameworks", cwd=fake_project)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "services is not allowed to import telebot" in result.stdout, result.stdout
    assert "services.core.clock -> telebot (l.2)" in result.stdout, result.stdout


def test_layer_violation_is_named(fake_project):
    _write_tree(fake_project, {
        "services/followups/automation.py": "RULES = []\n",
        "services/crm/pipeline.py": """\
            import json

            def change_stage():
                from services.followups import automation
                return automation.RULES
            """,
    })
    result = lint_imports("--contract", "services-layers", cwd=fake_project)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "services.crm is not allowed to import services.followups" in result.stdout, result.stdout
    assert "services.crm.pipeline -> services.followups.automation (l.4)" in result.stdout, result.stdout


def test_indirect_layer_violation_is_named_link_by_link(fake_project):
    _write_tree(fake_project, {
        "services/followups/automation.py": "RULES = []\n",
        "services/hub.py": "from services.followups import automation\n",
        "services/crm/leads.py": "import json\nfrom services import hub\n",
    })
    result = lint_imports("--contract", "services-layers", cwd=fake_project)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "services.crm.leads -> services.hub (l.2)" in result.stdout, result.stdout
    assert "services.hub -> services.followups.automation (l.1)" in result.stdout, result.stdout


def test_cycle_report_names_each_import():
    graph = grimp.ImportGraph()
    for module in ("services", "services.crm", "services.crm.llm", "services.crm.scoring",
                   "services.followups", "services.followups.automation"):
        graph.add_module(module)
    for importer, imported, line, text in [
        ("services.crm.scoring", "services.crm.llm", 15, "from services.crm import llm"),
        ("services.crm.llm", "services.crm.scoring", 38, "from services.crm.scoring import X"),
        ("services.followups.automation", "services.crm.scoring", 3, "from services.crm import scoring"),
    ]:
        graph.add_import(importer=importer, imported=imported, line_number=line, line_contents=text)
    assert find_cycles(graph, "services") == [
        "cycle between services.crm.llm, services.crm.scoring:\n"
        "  services.crm.llm -> services.crm.scoring (l.38: from services.crm.scoring import X)\n"
        "  services.crm.scoring -> services.crm.llm (l.15: from services.crm import llm)"
    ]
    graph.add_import(importer="services.crm.llm", imported="services.followups.automation",
                     line_number=40, line_contents="from services.followups import automation")
    cycles = find_cycles(graph, "services")
    assert cycles[0].startswith("cycle between services.crm, services.followups:")
    assert "services.crm.llm -> services.followups.automation (l.40: " in cycles[0]
    assert "services.followups.automation -> services.crm.scoring (l.3: " in cycles[0]

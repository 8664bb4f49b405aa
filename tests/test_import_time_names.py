"""Names a module runs when it is imported (decorators, defaults, bases, top-level code) must
be bound: the check that refuses an edit which would make the module fail to import."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from sleepcoder.agent.solve.run import start_solve
from sleepcoder.tools.pyimports import import_time_unbound

from tests.test_solve import REQUEST, inventory  # noqa: F401


def test_decorators_defaults_bases_and_top_level_code_are_looked_up_on_import():
    source = '''
import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shop import Store

@cli.command()
@click.argument("threshold", type=int)
def low_stock(store: Store, n=DEFAULT, *, parser=argparse.ArgumentParser) -> Report:
    return undefined_inside_a_body(n)

class Table(Base, metaclass=Meta):
    width = 3
    height = width * 2
    cells = [i for i in range(width)]
    handler = lambda self: not_looked_up_yet

print(missing_at_top)
'''
    # (`Store`, imported under TYPE_CHECKING, counts as bound: conditions are not weighed,
    # so the check errs towards letting an edit through)
    assert import_time_unbound(source) == {"cli", "click", "DEFAULT", "Base", "Meta",
                                           "missing_at_top", "Report"}
    lazy = "from __future__ import annotations\n" + source
    # annotations are strings there
    assert import_time_unbound(lazy) == {"cli", "click", "DEFAULT", "Base", "Meta",
                                         "missing_at_top"}


def test_what_the_module_binds_anywhere_at_the_top_counts_as_bound():
    source = '''
try:
    import json
except ImportError as exc:
    json = None
for item in range(3):
    total = item
with open(__file__) as handle:
    pass
def configure():
    global settings
    settings = {}
@configure_later
def f(): pass
def configure_later(fn): return fn
x = [settings, json, total, handle, exc, f]
'''
    assert import_time_unbound(source) == set()
    assert import_time_unbound("from os import *\n@x\ndef f(): pass\n") is None
    assert import_time_unbound("def f(:\n") is None


NAMES = ["alpha", "beta", "gamma", "delta"]


@settings(max_examples=150, deadline=None)
@given(defined=st.sets(st.sampled_from(NAMES)),
       uses=st.lists(st.tuples(st.sampled_from(["decorator", "default", "base", "class body",
                                                "body", "top", "lambda", "comprehension"]),
                               st.sampled_from(NAMES)), min_size=1, max_size=5))
def test_a_name_is_reported_exactly_when_importing_the_module_raises_name_error(defined, uses):
    """Generated modules (all bindings first, so order plays no part), run for real."""
    lines = [f"def {name}(*a, **k):\n    return {name}" for name in sorted(defined)]
    for kind, name in uses:
        lines.append({
            "decorator": f"@{name}\ndef f_{len(lines)}():\n    pass",
            "default": f"def g_{len(lines)}(x={name}):\n    return x",
            "base": f"class C_{len(lines)}({name}.__class__.__mro__[-1]):\n    pass",
            "class body": f"class D_{len(lines)}:\n    attr = {name}",
            "body": f"def h_{len(lines)}():\n    return {name}()",
            "top": f"v_{len(lines)} = {name}",
            "lambda": f"l_{len(lines)} = lambda: {name}",
            "comprehension": f"c_{len(lines)} = [{name} for {name} in range(2)]",
        }[kind])
    source = "\n".join(lines) + "\n"
    found = import_time_unbound(source)
    try:
        exec(compile(source, "<generated>", "exec"), {"__name__": "generated"})
        raised = set()
    except NameError as exc:
        raised = {exc.name}
    assert raised <= found
    assert bool(found) == bool(raised)


def test_a_standard_library_module_used_as_one_is_imported_plainly():
    from sleepcoder.tools.pyimports import add_imports, stdlib_modules

    code = ('"""Doc."""\n\nfrom __future__ import annotations\n\nfrom shop import Item\n\n\n'
            "@functools.cache\ndef f(select):\n    return json.dumps(select(Item))\n")
    assert stdlib_modules(code, {"functools", "json", "select", "Item", "nothing"}) == {
        "functools", "json"}  # `select` is called, not used as the module
    new = add_imports(code, {"functools": "import functools", "json": "import json",
                             "Tag": "shop"})
    assert ("from __future__ import annotations\n\nfrom shop import Item, Tag\nimport functools\n"
            "import json\n\n\n@functools.cache") in new
    assert import_time_unbound(new) == set()


def test_module_attributes_are_listed_unless_the_name_is_rebound():
    from sleepcoder.tools.pyimports import module_attributes

    source = ("import argparse, json\n@argparse.arg('x')\ndef f(a=os.sep):\n"
              "    return argparse.gone\ndef g(json):\n    return json.dumps\n"
              "class C(abc.ABC):\n    x = lambda: q.r\n")
    assert module_attributes(source) == {("argparse", "arg"), ("argparse", "gone"),
                                         ("os", "sep"), ("abc", "ABC"), ("q", "r")}
    assert module_attributes("def f(:\n") == set()


def test_review_cases_bound_in_a_class_body_and_rebound_modules():
    """From a hostile review at b4031c2: these run, and were reported as failing."""
    from sleepcoder.tools.pyimports import module_attributes

    assert import_time_unbound("class A:\n    try:\n        x = int('1')\n    except ValueError "
                               "as err:\n        y = err\n") == set()
    assert import_time_unbound("class A:\n    match 3:\n        case [n, *rest]:\n"
                               "            m = (n, rest)\n        case {'k': v, **more}:\n"
                               "            q = more\n") == set()
    assert module_attributes("import json\njson = type('J', (), {'mine': 1})\nX = json.mine\n"
                             ) == set()


def test_the_import_a_module_path_needs_is_the_longest_that_exists():
    from sleepcoder.tools.pyimports import add_imports, stdlib_import

    assert stdlib_import("@unittest.mock.patch('os.getcwd')\ndef f(): pass\n",
                         "unittest") == "import unittest.mock"
    assert stdlib_import("t = xml.etree.ElementTree.parse(1)\nu = xml.dom.minidom\n",
                         "xml") == "import xml.dom.minidom\nimport xml.etree.ElementTree"
    assert stdlib_import("json.dumps(1)\n", "json") == "import json"
    assert add_imports("import os", {"json": "import json"}) == "import os\nimport json\n"
    assert add_imports("import os\r\nx = 1\r\n", {"json": "import json"}) == \
        "import os\r\nimport json\r\nx = 1\r\n"


def test_standard_library_attribute_check_spares_submodules_and_own_modules():
    from types import SimpleNamespace

    import pytest
    from sleepcoder.agent.solve.names import check_import_names
    from sleepcoder.agent.solve.syntax import EditRejected

    own = {"app/secrets.py"}
    ctx = SimpleNamespace(store=None, workspace=SimpleNamespace(exists=lambda p: p in own))

    def check(before: str, after: str, path: str = "app/main.py") -> None:
        work = SimpleNamespace(language="python", content=before, path=path, planned={})
        check_import_names(ctx, work, after)

    check("", "import logging.handlers\nH = logging.handlers.RotatingFileHandler\n")
    check("", "import unittest.mock\n@unittest.mock.patch('os.getcwd')\ndef f(): pass\n")
    check("", "import secrets\nURL = secrets.DATABASE_URL\n")  # app/secrets.py is its own
    with pytest.raises(EditRejected, match="`argparse.arg` does not exist"):
        check("def f():\n    pass\n", "@argparse.arg('x')\ndef f():\n    pass\n")  # unimported
    with pytest.raises(EditRejected, match="`json.dump_everything` does not exist"):
        check("import json\n", "import json\ndef f(x):\n    return json.dump_everything(x)\n")


def test_a_decorator_reading_a_name_bound_only_below_it_is_refused(inventory,  # noqa: F811
                                                                    scripted):
    """The README example's fix round at 9bd36d2 put `@main.command` above `def main`, which
    the order-blind check let through: every test then failed with NameError on import."""
    from tests.test_symbol_edit import options, script_plan

    script_plan(scripted, "EDIT inventory/cli.py: low stock\n  CHANGE main: the low-stock "
                          "command\n")
    scripted.on(node="edit", contains="binds only by that very definition", reply=(
        "```python\ndef main(argv: list[str] | None = None) -> int:\n    return 0\n```"))
    scripted.on(node="edit", reply=(
        "```python\n@main.command\ndef main(argv: list[str] | None = None) -> int:\n"
        "    return 0\n```"))
    result = start_solve(inventory.root, REQUEST, options(edit_protocol="rewrite"))
    assert any("a decorator of `main` reads `main`" in c.prompt for c in scripted.calls)
    assert "@main.command" not in result.patch


def test_which_decorators_read_a_name_before_it_is_bound():
    from sleepcoder.tools.pyimports import decorated_before_bound

    assert decorated_before_bound("@main.command\ndef main():\n    pass\n") == {
        ("main", "main")}
    assert decorated_before_bound("@register\ndef a(): pass\ndef register(f): return f\n") \
        == {("a", "register")}
    assert decorated_before_bound("def cli(): pass\n@cli.command\ndef main():\n    pass\n") \
        == set()
    assert decorated_before_bound("import click\n@click.command()\ndef main(): pass\n") == set()
    assert decorated_before_bound("@property\ndef a(): pass\n") == set()
    assert decorated_before_bound("@main.command\ndef main(:\n") == set()  # does not parse

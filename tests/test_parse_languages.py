"""Per-language fact extraction (tools.parse.extract_facts) on the fixtures in
tests/fixtures/languages, plus robustness cases: syntax errors, bad encodings, empty files and
Python builtins.

Every expected value below was checked against the parser's actual output; the fixtures are
small enough that each one can be read next to its expectations.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sleepcoder.tools.facts import Definition, Import, Reference
from sleepcoder.tools.languages import LANGUAGES, language_for_path
from sleepcoder.tools.parse import extract_facts

FIXTURES = Path(__file__).parent / "fixtures" / "languages"

D = Definition
R = Reference
I = Import  # noqa: E741

# fixture file -> what extract_facts must find in it.
#   definitions: the complete list, in order
#   references:  a subset that must be present (exact tuples)
#   absent_refs: names that must not be recorded as references
#   imports:     the complete list, in order
EXPECTED: dict[str, dict] = {
    "sample.py": {
        "language": "python",
        "lines": 40,
        "doc": "Inventory of shapes.",
        "definitions": [
            D("constant", "MAX_ITEMS", "MAX_ITEMS", "MAX_ITEMS = 10", "", 12, 12),
            D("class", "Inventory", "Inventory", "class Inventory(Base)",
              "Holds shapes by name.", 15, 30),
            D("method", "__init__", "Inventory.__init__", "def __init__(self, items)", "",
              18, 20),
            D("method", "reset", "Inventory.reset", "def reset(self)", "Forget everything.",
              22, 24),
            D("method", "total", "Inventory.total", "def total(self) -> int", "", 26, 30),
            D("function", "weight", "Inventory.total.weight", "def weight(item)", "", 27, 28),
            # decorated; the trailing `# build one` comment is not part of the signature
            D("function", "build", "build",
              "def build(path: str, *, limit: int = MAX_ITEMS) -> Inventory",
              "Load an inventory from `path`.", 34, 37),
        ],
        "references": [
            R("Base", 15, "inherit", "Inventory", ""),
            R("reset", 20, "call", "Inventory.__init__", "self"),
            R("weigh", 28, "call", "Inventory.total.weight", "helpers"),
            R("weight", 30, "call", "Inventory.total", ""),
            R("register", 33, "call", "", ""),  # the decorator runs at module level
            R("listdir", 36, "call", "build", "os"),
            R("Inventory", 37, "call", "build", ""),
            R("array", 37, "call", "build", "np"),
        ],
        # builtins (list, sum, str, int) and self are never references; Python type
        # annotations are not recorded (the import graph already links those files)
        "absent_refs": {"list", "sum", "str", "int", "self"},
        "imports": [
            I("os", (), None, 6, "import"),
            I("numpy", (), "np", 7, "import"),
            I(".", (("helpers", None),), None, 8, "from"),
            I("..core.base", (("Base", None), ("Mixin", "Mix")), None, 9, "from"),
            I(".util", (("*", None),), None, 10, "from"),
        ],
    },
    "sample.js": {
        "language": "javascript",
        "lines": 27,
        "doc": "Utilities for shapes.",
        "definitions": [
            D("class", "Shape", "Shape", "class Shape extends Base", "Builds a shape.", 9, 20),
            D("method", "area", "Shape.area", "area()", "Area of the shape.", 11, 13),
            D("method", "draw", "Shape.draw", "draw(canvas)", "", 15, 19),
            D("function", "makeSquare", "makeSquare", "function makeSquare(size)",
              "Makes a square.", 23, 25),
            D("function", "scale", "scale", "scale = (shape, k) =>", "", 27, 27),
        ],
        "references": [
            R("Base", 9, "inherit", "Shape", ""),
            R("computeArea", 12, "call", "Shape.area", ""),
            R("area", 16, "call", "Shape.draw", "this"),
            R("info", 17, "call", "Shape.draw", "log"),
            R("Renderer", 18, "class", "Shape.draw", ""),
            R("Shape", 24, "class", "makeSquare", ""),
            R("resize", 27, "call", "scale", "shape"),
        ],
        "absent_refs": {"require"},
        "imports": [
            I("./geometry", (("area", "computeArea"), ("perimeter", None)), None, 2, "import"),
            I("../log.js", (), "log", 3, "import"),
            I("fs", (), "fs", 4, "require"),
        ],
    },
    "sample.ts": {
        "language": "typescript",
        "lines": 27,
        "doc": "",  # the file starts with an import, not a comment
        "definitions": [
            D("interface", "Renderer", "Renderer", "interface Renderer",
              "Describes a renderer.", 5, 7),
            D("method", "render", "Renderer.render", "render(shape: Shape): void", "", 6, 6),
            D("type", "Size", "Size", "type Size = number;", "", 9, 9),
            D("enum", "Color", "Color", "enum Color", "", 11, 11),
            D("class", "CanvasRenderer", "CanvasRenderer",
              "class CanvasRenderer implements Renderer", "Renders to a canvas.", 14, 23),
            D("method", "render", "CanvasRenderer.render", "render(shape: Shape): void", "",
              17, 20),
            D("method", "clear", "CanvasRenderer.clear", "clear(): void", "", 22, 22),
            D("function", "drawShape", "drawShape",
              "function drawShape(shape: Shape, opts: Options): void", "", 25, 27),
        ],
        "references": [
            R("Shape", 6, "type", "Renderer.render", ""),
            R("Renderer", 14, "inherit", "CanvasRenderer", ""),
            R("Options", 15, "type", "CanvasRenderer", ""),
            R("clear", 18, "call", "CanvasRenderer.render", "this"),
            R("drawShape", 19, "call", "CanvasRenderer.render", ""),
            R("area", 26, "call", "drawShape", "shape"),
        ],
        "absent_refs": set(),
        "imports": [
            I("./shape", (("Shape", None),), None, 1, "import"),
            I("./options", (("Options", None),), None, 2, "import"),
        ],
    },
    "sample.tsx": {
        "language": "tsx",
        "lines": 9,
        "doc": "",
        "definitions": [
            D("function", "Greeting", "Greeting", "function Greeting(props: { name: string })",
              "A greeting card.", 5, 7),
            D("function", "Farewell", "Farewell", "Farewell = ({ name }: { name: string }) =>",
              "", 9, 9),
        ],
        "references": [
            R("track", 6, "call", "Greeting", ""),
            R("formatName", 9, "call", "Farewell", ""),
        ],
        "absent_refs": set(),
        "imports": [
            I("react", (("default", "React"),), None, 1, "import"),
            I("./button", (("Button", None),), None, 2, "import"),
        ],
    },
    "sample.go": {
        "language": "go",
        "lines": 27,
        "doc": "Package shapes computes areas.",
        "definitions": [
            D("type", "Shape", "Shape", "Shape interface", "Shape is anything with an area.",
              10, 12),
            D("type", "Circle", "Circle", "Circle struct", "Circle is a round shape.", 15, 17),
            # a method's qname is qualified by its receiver type
            D("method", "Area", "Circle.Area", "func (c *Circle) Area() float64",
              "Area returns the circle's area.", 20, 22),
            D("function", "Describe", "Describe", "func Describe(s Shape) string",
              "Describe prints a shape.", 25, 27),
        ],
        "references": [
            R("Circle", 20, "type", "Circle.Area", ""),
            R("Shape", 25, "type", "Describe", ""),
            R("Sprintf", 26, "call", "Describe", "fmt"),
            R("Area", 26, "call", "Describe", "s"),
        ],
        "absent_refs": {"Pi"},  # m.Pi is a selector, not a call
        "imports": [
            I("fmt", (), None, 5, "import"),
            I("math", (), "m", 6, "import"),
        ],
    },
    "Sample.java": {
        "language": "java",
        "lines": 27,
        "doc": "",  # the file starts with a package declaration
        "definitions": [
            D("class", "Sample", "Sample",
              "public class Sample extends Base implements Comparable<Sample>",
              "A point in the plane.", 7, 23),
            D("constructor", "Sample", "Sample.Sample", "public Sample(double x)",
              "Builds a point.", 11, 13),
            D("method", "norm", "Sample.norm", "public double norm()",
              "Distance to the origin.", 16, 18),
            D("method", "compareTo", "Sample.compareTo", "public int compareTo(Sample other)",
              "", 20, 22),
            D("interface", "Measurable", "Measurable", "interface Measurable", "", 25, 27),
            D("method", "measure", "Measurable.measure", "double measure();", "", 26, 26),
        ],
        "references": [
            R("Base", 7, "class", "Sample", ""),
            R("sqrt", 17, "call", "Sample.norm", ""),
            R("compare", 21, "call", "Sample.compareTo", "Double"),
            R("norm", 21, "call", "Sample.compareTo", ""),
            R("norm", 21, "call", "Sample.compareTo", "other"),
        ],
        "absent_refs": set(),
        "imports": [
            I("java.util", (("List", None),), None, 3, "import"),
            I("java.lang.Math", (("sqrt", None),), None, 4, "static"),
        ],
    },
    "sample.rs": {
        "language": "rust",
        "lines": 31,
        "doc": "Geometry helpers.",
        "definitions": [
            D("module", "util", "util", "mod util;", "", 4, 4),
            D("class", "Circle", "Circle", "pub struct Circle", "A circle.", 7, 9),
            # methods in `impl Circle` are qualified by the impl's type
            D("method", "new", "Circle.new", "pub fn new(r: f64) -> Self", "Makes a circle.",
              13, 15),
            D("method", "area", "Circle.area", "pub fn area(&self) -> f64", "", 17, 19),
            D("method", "scale", "Circle.scale", "fn scale(&self, k: f64) -> f64", "", 21, 21),
            D("interface", "Area", "Area", "pub trait Area", "Anything with an area.", 25, 27),
            D("function", "unit", "unit", "pub fn unit() -> Circle", "", 29, 31),
        ],
        "references": [
            R("Circle", 11, "implementation", "", ""),
            R("scale", 18, "call", "Circle.area", "self"),
            R("pi", 18, "call", "Circle.area", "util"),
            R("new", 30, "call", "unit", "Circle"),
        ],
        "absent_refs": set(),
        "imports": [
            I("std", (("fmt", None),), None, 2, "use"),
            # a use list is split into one import per path
            I("crate::units", (("Meters", None),), None, 3, "use"),
            I("crate::units", (("convert", "conv"),), None, 3, "use"),
            I("util", (), None, 4, "mod"),
        ],
    },
    "sample.c": {
        "language": "c",
        "lines": 24,
        "doc": "Stack of integers.",
        "definitions": [
            D("class", "stack", "stack", "struct stack", "A fixed-size stack.", 6, 9),
            D("type", "stack_t", "stack_t", "typedef struct stack stack_t;", "", 11, 11),
            D("function", "push", "push", "int push(stack_t *s, int v)", "Push a value.",
              14, 18),
            # a prototype is a declaration, not a function
            D("declaration", "pop", "pop", "int pop(stack_t *s);", "", 20, 20),
            D("function", "dump", "dump", "void dump(stack_t *s)", "", 22, 24),
        ],
        "references": [
            R("stack", 11, "type", "stack_t", ""),
            R("stack_t", 14, "type", "push", ""),
            R("report_error", 15, "call", "push", ""),
            R("printf", 23, "call", "dump", ""),
            R("pop", 23, "call", "dump", ""),
        ],
        "absent_refs": set(),
        "imports": [
            I("stdio.h", (), None, 2, "system"),
            I("stack.h", (), None, 3, "include"),
        ],
    },
    "sample.cpp": {
        "language": "cpp",
        "lines": 22,
        "doc": "Geometry in C++.",
        "definitions": [
            D("class", "Point", "geo.Point", "class Point : public Shape", "A 2D point.", 8, 12),
            D("declaration", "Point", "geo.Point.Point", "Point(double x, double y);", "",
              10, 10),
            D("declaration", "norm", "geo.Point.norm", "double norm() const;", "", 11, 11),
            # Point::norm defined outside the class is still qualified by namespace and class
            D("method", "norm", "geo.Point.norm", "double Point::norm() const",
              "Euclidean norm.", 15, 17),
            D("function", "square", "geo.square", "T square(T v)", "", 20, 20),
        ],
        "references": [
            R("Shape", 8, "inherit", "geo.Point", ""),
            R("sqrt", 16, "call", "geo.Point.norm", "std"),
            R("square", 16, "call", "geo.Point.norm", ""),
        ],
        "absent_refs": set(),
        "imports": [
            I("vector", (), None, 2, "system"),
            I("geometry.hpp", (), None, 3, "include"),
        ],
    },
}

FIXTURE_NAMES = sorted(EXPECTED)


def _fixture_facts(name: str):
    language = language_for_path(name)
    assert language == EXPECTED[name]["language"]
    return extract_facts((FIXTURES / name).read_bytes(), language)


def test_every_fixture_file_has_expectations():
    assert sorted(p.name for p in FIXTURES.iterdir() if p.is_file()) == FIXTURE_NAMES


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_fixture_parses_cleanly_with_line_count_and_module_doc(name):
    facts = _fixture_facts(name)
    expected = EXPECTED[name]
    assert facts.language == expected["language"]
    assert facts.failure == ""
    assert facts.parse_errors == 0
    assert facts.first_error_line == 0
    assert facts.decode_replaced is False
    assert facts.lines == expected["lines"]
    assert facts.doc == expected["doc"]


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_fixture_definitions_have_kind_qname_signature_doc_and_span(name):
    facts = _fixture_facts(name)
    assert facts.definitions == EXPECTED[name]["definitions"]


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_fixture_references_have_kind_scope_and_receiver(name):
    facts = _fixture_facts(name)
    missing = [r for r in EXPECTED[name]["references"] if r not in facts.references]
    assert missing == [], f"not found in {facts.references}"
    recorded = {r.name for r in facts.references}
    assert not (EXPECTED[name]["absent_refs"] & recorded)


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_fixture_imports_have_module_names_and_alias(name):
    facts = _fixture_facts(name)
    assert facts.imports == EXPECTED[name]["imports"]


@pytest.mark.parametrize(
    ("path", "language"),
    [
        ("a/b.py", "python"),
        ("stubs/x.pyi", "python"),
        ("x.mjs", "javascript"),
        ("x.jsx", "javascript"),
        ("types/x.d.ts", "typescript"),
        ("x.tsx", "tsx"),
        ("x.h", "c"),
        ("x.HPP", "cpp"),
        ("README.md", None),
        ("Makefile", None),
    ],
)
def test_language_for_path_maps_extensions(path, language):
    assert language_for_path(path) == language


# --- more Python details -----------------------------------------------------------------------


def _facts(source: str | bytes, language: str):
    data = source.encode("utf-8") if isinstance(source, str) else source
    facts = extract_facts(data, language)
    assert facts.failure == ""
    return facts


def test_python_import_forms_record_module_names_and_aliases():
    facts = _facts(
        "import a.b.c\n"
        "import a.b as ab, os.path\n"
        "from . import (x, y as z)\n"
        "from .. import w\n"
        "from ...p.q import r\n"
        "from a import *\n",
        "python",
    )
    assert facts.imports == [
        I("a.b.c", (), None, 1, "import"),
        I("a.b", (), "ab", 2, "import"),
        I("os.path", (), None, 2, "import"),
        I(".", (("x", None), ("y", "z")), None, 3, "from"),
        I("..", (("w", None),), None, 4, "from"),
        I("...p.q", (("r", None),), None, 5, "from"),
        I("a", (("*", None),), None, 6, "from"),
    ]


def test_python_nested_class_methods_are_qualified_and_async_keeps_keyword():
    facts = _facts(
        "class A:\n"
        "    class B:\n"
        "        def m(self):\n"
        "            return self.n()\n"
        "    async def n(self):\n"
        "        '''Async.'''\n"
        "        return A.B()\n",
        "python",
    )
    assert facts.definitions == [
        D("class", "A", "A", "class A", "", 1, 7),
        D("class", "B", "A.B", "class B", "", 2, 4),
        D("method", "m", "A.B.m", "def m(self)", "", 3, 4),
        D("method", "n", "A.n", "async def n(self)", "Async.", 5, 7),
    ]
    assert facts.references == [
        R("n", 4, "call", "A.B.m", "self"),
        R("B", 7, "call", "A.n", "A"),
    ]


def test_python_multiline_signature_is_whitespace_collapsed():
    facts = _facts("def f(\n    a,\n    b,\n):\n    '''Doc.'''\n", "python")
    assert facts.definitions == [D("function", "f", "f", "def f(a, b)", "Doc.", 1, 5)]


def test_python_bare_decorator_is_a_decorator_reference_and_dotted_one_a_call():
    facts = _facts(
        "@dataclass\nclass P:\n    x: int\n\n@app.route('/')\ndef index():\n    pass\n",
        "python",
    )
    assert facts.references == [
        R("dataclass", 1, "decorator", "", ""),
        R("route", 5, "call", "", "app"),
    ]


def test_python_cls_receiver_and_dotted_receiver_are_kept_verbatim():
    facts = _facts(
        "class A:\n"
        "    @classmethod\n"
        "    def p(cls):\n"
        "        return cls.q()\n"
        "\n"
        "def f():\n"
        "    return helper.sub.go(1)\n",
        "python",
    )
    assert R("q", 4, "call", "A.p", "cls") in facts.references
    assert R("go", 7, "call", "f", "helper.sub") in facts.references
    assert "classmethod" not in {r.name for r in facts.references}


def test_python_signature_drops_trailing_comment_containing_a_quote():
    facts = _facts("def f(x):  # don't\n    return x\n", "python")
    assert facts.definitions[0].signature == "def f(x)"


# --- builtins ----------------------------------------------------------------------------------


def test_python_builtin_calls_are_not_references_but_attribute_calls_are():
    facts = _facts(
        "def f(x, obj):\n"
        "    n = len(x)\n"
        "    m = obj.len()\n"
        "    print(n, isinstance(x, int))\n"
        "    return helper(m)\n",
        "python",
    )
    assert facts.references == [
        R("len", 3, "call", "f", "obj"),
        R("helper", 5, "call", "f", ""),
    ]


def test_builtin_filter_applies_only_to_python():
    facts = _facts("function f(x) { return len(x) + print(x); }\n", "javascript")
    assert [(r.name, r.kind, r.scope) for r in facts.references] == [
        ("len", "call", "f"),
        ("print", "call", "f"),
    ]


# --- syntax errors -----------------------------------------------------------------------------

SYNTAX_ERRORS = {
    # language: (source, name before the error, name after the error, first error line)
    "python": ("def a():\n    return 1\n\nx = (\n\ndef c():\n    return a()\n", "a", "c", 4),
    "javascript": (
        "function a() { return 1; }\nconst = 3 +;\nfunction c() { return a(); }\n", "a", "c", 2
    ),
    "typescript": (
        "function a(): number { return 1; }\nlet x: = ;\n"
        "function c(): number { return a(); }\n",
        "a", "c", 2,
    ),
    "go": ("package p\n\nfunc A() {}\n\nvar = 3\n\nfunc C() { A() }\n", "A", "C", 5),
    "java": ("class X {\n  void a() {}\n  int = 3;\n  void c() { a(); }\n}\n", "a", "c", 3),
    "c": ("int a(void) { return 1; }\nint b(void) { return ; ) }\nint c(void) { return a(); }\n",
          "a", "c", 2),
    "cpp": ("int a(void) { return 1; }\nint x = ;\nint c(void) { return a(); }\n", "a", "c", 2),
}


@pytest.mark.parametrize("language", sorted(SYNTAX_ERRORS))
def test_syntax_error_keeps_definitions_around_it_and_reports_first_error_line(language):
    source, before, after, error_line = SYNTAX_ERRORS[language]
    facts = _facts(source, language)
    assert facts.parse_errors > 0
    assert facts.first_error_line == error_line
    names = [d.name for d in facts.definitions]
    assert before in names
    assert after in names
    # the definition after the error keeps its own references too
    after_def = next(d for d in facts.definitions if d.name == after)
    assert any(r.scope == after_def.qname for r in facts.references)


def test_python_broken_signature_keeps_neighbours_and_the_broken_definition():
    facts = _facts("def a():\n    return 1\n\ndef b(:\n    pass\n\ndef c():\n    return 2\n",
                   "python")
    assert facts.parse_errors == 1
    assert facts.first_error_line == 4
    assert [(d.name, d.start_line, d.end_line) for d in facts.definitions] == [
        ("a", 1, 2),
        ("b", 4, 5),
        ("c", 7, 8),
    ]


def test_first_error_line_is_the_earliest_of_several_errors():
    facts = _facts(
        "def a():\n    pass\n\ndef b(:\n    pass\n\ndef c():\n    pass\n\ndef d(:\n    pass\n",
        "python",
    )
    assert facts.parse_errors == 2
    assert facts.first_error_line == 4
    assert [d.name for d in facts.definitions] == ["a", "b", "c", "d"]


# --- encodings and empty files -----------------------------------------------------------------


def test_non_utf8_python_sets_decode_replaced_and_still_extracts():
    data = b"# caf\xe9\ndef f():\n    '''D\xe9j\xe0 vu.'''\n    return g()\n"
    facts = extract_facts(data, "python")
    assert facts.decode_replaced is True
    assert facts.failure == ""
    assert facts.definitions == [D("function", "f", "f", "def f()", "D\ufffdj\ufffd vu.", 2, 4)]
    assert facts.references == [R("g", 4, "call", "f", "")]


def test_non_utf8_go_comment_becomes_replacement_chars_in_doc():
    facts = extract_facts(b"package p\n// D\xe9j\xe0\nfunc F() { G() }\n", "go")
    assert facts.decode_replaced is True
    assert facts.definitions == [D("function", "F", "F", "func F()", "D\ufffdj\ufffd", 3, 3)]
    assert facts.references == [R("G", 3, "call", "F", "")]


def test_non_utf8_inside_string_literal_keeps_later_definitions():
    facts = extract_facts(b"def f():\n    return '\xff'\n\ndef g():\n    f()\n", "python")
    assert facts.decode_replaced is True
    assert [d.qname for d in facts.definitions] == ["f", "g"]
    assert facts.references == [R("f", 5, "call", "g", "")]


def test_valid_utf8_non_ascii_is_not_flagged_as_replaced():
    facts = _facts("def caf\u00e9():\n    '''D\u00e9j\u00e0.'''\n", "python")
    assert facts.decode_replaced is False
    assert facts.definitions == [D("function", "caf\u00e9", "caf\u00e9", "def caf\u00e9()",
                                   "D\u00e9j\u00e0.", 1, 2)]


@pytest.mark.parametrize("language", sorted(LANGUAGES))
def test_empty_file_gives_empty_facts(language):
    facts = extract_facts(b"", language)
    assert facts.language == language
    assert facts.failure == ""
    assert facts.lines == 0
    assert facts.doc == ""
    assert facts.definitions == []
    assert facts.references == []
    assert facts.imports == []
    assert facts.parse_errors == 0
    assert facts.decode_replaced is False


@pytest.mark.parametrize("language", sorted(LANGUAGES))
def test_whitespace_only_file_gives_no_facts(language):
    facts = extract_facts(b"\n  \n\t\n", language)
    assert facts.failure == ""
    assert facts.lines == 3
    assert (facts.definitions, facts.references, facts.imports) == ([], [], [])
    assert facts.parse_errors == 0


# --- other languages: details beyond the fixtures -----------------------------------------------


def test_js_import_forms_record_default_named_namespace_reexport_and_require():
    facts = _facts(
        'import def, { a as b, c } from "./m";\n'
        'import * as ns from "./ns";\n'
        'export * from "./all";\n'
        'export { x as y, z } from "./re";\n'
        'const { p, q: r } = require("./req");\n'
        'const lib = require("lib");\n'
        'import "./side";\n'
        'const dyn = import("./dyn");\n',
        "javascript",
    )
    assert facts.imports == [
        I("./m", (("default", "def"), ("a", "b"), ("c", None)), None, 1, "import"),
        I("./ns", (), "ns", 2, "import"),
        I("./all", (("*", None),), None, 3, "export"),
        I("./re", (("x", "y"), ("z", None)), None, 4, "export"),
        I("./req", (("p", None), ("q", "r")), None, 5, "require"),
        I("lib", (), "lib", 6, "require"),
        I("./side", (), None, 7, "import"),
        I("./dyn", (), "dyn", 8, "require"),
    ]


def test_go_import_aliases_including_dot_and_blank_are_recorded():
    facts = _facts(
        'package p\n\nimport "example.com/m/util"\nimport u2 "example.com/m/u2"\n'
        'import . "dot"\nimport _ "blank"\n',
        "go",
    )
    assert facts.imports == [
        I("example.com/m/util", (), None, 3, "import"),
        I("example.com/m/u2", (), "u2", 4, "import"),
        I("dot", (), ".", 5, "import"),
        I("blank", (), "_", 6, "import"),
    ]


def test_java_wildcard_and_static_imports():
    facts = _facts("package a.b;\nimport a.c.*;\nimport static a.d.E.f;\nclass X {}\n", "java")
    assert facts.imports == [
        I("a.c", (("*", None),), None, 2, "import"),
        I("a.d.E", (("f", None),), None, 3, "static"),
    ]


def test_rust_nested_use_lists_expand_to_one_import_per_path():
    facts = _facts(
        "use crate::a::b;\n"
        "use super::super::c::{self, D as E, f::{G, h}};\n"
        "use self::x::*;\n"
        "use std::{io, fmt::Write};\n",
        "rust",
    )
    assert facts.imports == [
        I("crate::a", (("b", None),), None, 1, "use"),
        I("super::super", (("c", None),), None, 2, "use"),
        I("super::super::c", (("D", "E"),), None, 2, "use"),
        I("super::super::c::f", (("G", None),), None, 2, "use"),
        I("super::super::c::f", (("h", None),), None, 2, "use"),
        I("self::x", (("*", None),), None, 3, "use"),
        I("std", (("io", None),), None, 4, "use"),
        I("std::fmt", (("Write", None),), None, 4, "use"),
    ]


def test_rust_scoped_call_receiver_is_the_path():
    facts = _facts("fn b() { a(); crate::m::z(); }\n", "rust")
    assert facts.references == [
        R("a", 1, "call", "b", ""),
        R("z", 1, "call", "b", "crate::m"),
    ]


def test_rust_function_in_inline_module_is_a_function_not_a_method():
    facts = _facts("pub mod inner {\n    pub fn g() {}\n}\n", "rust")
    assert facts.definitions == [
        D("module", "inner", "inner", "pub mod inner", "", 1, 3),
        D("function", "g", "inner.g", "pub fn g()", "", 2, 2),
    ]


def test_c_include_paths_keep_directories_and_distinguish_system_headers():
    facts = _facts('#include "x.h"\n#include "../inc/y.h"\n#include <sys/z.h>\n', "c")
    assert facts.imports == [
        I("x.h", (), None, 1, "include"),
        I("../inc/y.h", (), None, 2, "include"),
        I("sys/z.h", (), None, 3, "system"),
    ]


def test_cpp_nested_namespaces_qualify_classes_and_receivers_are_recorded():
    facts = _facts(
        "namespace n { namespace m { class K { void f() { g(); this->h(); obj.i(); p->j(); } }; "
        "} }\nstruct S { int v; };\n",
        "cpp",
    )
    assert [d.qname for d in facts.definitions] == ["n.m.K", "n.m.K.f", "S"]
    assert facts.references == [
        R("g", 1, "call", "n.m.K.f", ""),
        R("h", 1, "call", "n.m.K.f", "this"),
        R("i", 1, "call", "n.m.K.f", "obj"),
        R("j", 1, "call", "n.m.K.f", "p"),
    ]


def test_typescript_heritage_clauses_are_inherit_references():
    facts = _facts(
        "export abstract class A<T> extends B<T> implements C, D {\n"
        "  private m(): void { this.n(); super.o(); }\n"
        "}\n",
        "typescript",
    )
    assert facts.definitions == [
        D("class", "A", "A", "abstract class A<T> extends B<T> implements C, D", "", 1, 3),
        D("method", "m", "A.m", "private m(): void", "", 2, 2),
    ]
    assert facts.references == [
        R("B", 1, "inherit", "A", ""),
        R("C", 1, "inherit", "A", ""),
        R("D", 1, "inherit", "A", ""),
        R("n", 2, "call", "A.m", "this"),
        R("o", 2, "call", "A.m", "super"),
    ]

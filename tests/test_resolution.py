"""Import resolution (tools.import_graph) and call resolution (tools.callgraph).

Repositories are built in memory as {path: source}; imports and references come from the real
parser, so each case runs the same pipeline as tools/graphs.py, minus the store.
"""

from __future__ import annotations

import pytest
from sleepcoder.tools.callgraph import MAX_CANDIDATES, FileDefs, SymbolTable, resolve_file_calls
from sleepcoder.tools.import_graph import Binding, ModuleIndex, read_go_module, resolve_file_imports
from sleepcoder.tools.languages import language_for_path
from sleepcoder.tools.parse import extract_facts


def resolve_imports(paths, path: str, source: str, go_module: str | None = None):
    """Resolve the imports of `source`, parsed as the file `path`, against `paths`."""
    language = language_for_path(path)
    facts = extract_facts(source.encode(), language)
    assert facts.parse_errors == 0, source
    index = ModuleIndex(set(paths) | {path}, go_module)
    return resolve_file_imports(path, language, facts.imports, index)


def edge_targets(result) -> list[str]:
    return [dst for dst, _line, _module in result.edges]


def resolve_calls(files: dict[str, str], target: str, go_module: str | None = None):
    """Call edges out of `target`: (src_qname, dst, dst_qname, how, count) tuples, sorted."""
    facts = {}
    for path, source in files.items():
        language = language_for_path(path)
        if language is not None:
            facts[path] = extract_facts(source.encode(), language)
            assert facts[path].parse_errors == 0, path
    index = ModuleIndex(files, go_module)
    all_bindings = {
        path: resolve_file_imports(path, language_for_path(path), f.imports, index).bindings
        for path, f in facts.items()
    }
    table = SymbolTable()
    for path, f in facts.items():
        for d in f.definitions:
            table.add(path, d.name, d.qname, d.kind)
    f = facts[target]
    edges = resolve_file_calls(
        target,
        language_for_path(target),
        FileDefs([(d.name, d.qname, d.kind) for d in f.definitions]),
        [tuple(r) for r in f.references],
        all_bindings.get(target, {}),
        all_bindings,
        table,
    )
    assert all(edge[0] == target for edge in edges)
    return sorted(edge[1:] for edge in edges)


# === Python imports =============================================================================

PY_REPO = [
    "pkg/__init__.py",
    "pkg/mod.py",
    "pkg/b.py",
    "pkg/sub/__init__.py",
    "pkg/sub/a.py",
    "main.py",
]


def test_import_dotted_module_resolves_module_file_and_binds_dotted_name_and_package():
    result = resolve_imports(PY_REPO, "main.py", "import pkg.mod\n")
    assert result.edges == [("pkg/mod.py", 1, "pkg.mod")]
    assert result.bindings == {
        "pkg.mod": Binding("pkg/mod.py", None),
        "pkg": Binding("pkg/__init__.py", None),
    }


def test_import_module_with_alias_binds_only_the_alias():
    result = resolve_imports(PY_REPO, "main.py", "import pkg.mod as m\n")
    assert result.edges == [("pkg/mod.py", 1, "pkg.mod")]
    assert result.bindings == {"m": Binding("pkg/mod.py", None)}


def test_from_package_import_submodule_binds_submodule_file():
    result = resolve_imports(PY_REPO, "main.py", "from pkg import mod\n")
    assert result.edges == [("pkg/mod.py", 1, "pkg.mod")]
    assert result.bindings == {"mod": Binding("pkg/mod.py", None)}


def test_from_module_import_name_binds_name_inside_module_file():
    result = resolve_imports(PY_REPO, "main.py", "from pkg.mod import name as alias\n")
    assert result.edges == [("pkg/mod.py", 1, "pkg.mod")]
    assert result.bindings == {"alias": Binding("pkg/mod.py", "name")}


def test_from_package_import_non_module_name_binds_it_in_package_init():
    result = resolve_imports(PY_REPO, "main.py", "from pkg import helper\n")
    assert result.edges == [("pkg/__init__.py", 1, "pkg")]
    assert result.bindings == {"helper": Binding("pkg/__init__.py", "helper")}


def test_import_of_missing_submodule_falls_back_to_existing_package_without_binding():
    result = resolve_imports(PY_REPO, "main.py", "import pkg.nothere\n")
    assert result.edges == [("pkg/__init__.py", 1, "pkg.nothere")]
    assert result.bindings == {}


def test_stdlib_and_third_party_imports_produce_no_edge():
    result = resolve_imports(
        PY_REPO,
        "main.py",
        "import os\nimport json.decoder\nfrom collections import OrderedDict\n"
        "import numpy as np\n",
    )
    assert result.edges == []
    assert result.bindings == {}


def test_relative_import_of_name_binds_it_in_current_package_init():
    result = resolve_imports(PY_REPO, "pkg/sub/a.py", "from . import x\n")
    assert result.edges == [("pkg/sub/__init__.py", 1, ".")]
    assert result.bindings == {"x": Binding("pkg/sub/__init__.py", "x")}


def test_relative_import_of_sibling_module_binds_module_file():
    result = resolve_imports(PY_REPO + ["pkg/sub/x.py"], "pkg/sub/a.py", "from . import x\n")
    assert edge_targets(result) == ["pkg/sub/x.py"]
    assert result.bindings == {"x": Binding("pkg/sub/x.py", None)}


def test_relative_import_two_levels_resolves_module_in_parent_package():
    result = resolve_imports(PY_REPO, "pkg/sub/a.py", "from ..b import thing\n")
    assert result.edges == [("pkg/b.py", 1, "..b")]
    assert result.bindings == {"thing": Binding("pkg/b.py", "thing")}


def test_relative_import_of_parent_package_modules():
    result = resolve_imports(PY_REPO, "pkg/sub/a.py", "from .. import b, mod\n")
    assert edge_targets(result) == ["pkg/b.py", "pkg/mod.py"]
    assert result.bindings == {
        "b": Binding("pkg/b.py", None),
        "mod": Binding("pkg/mod.py", None),
    }


def test_relative_import_from_init_resolves_sibling_module():
    result = resolve_imports(
        PY_REPO, "pkg/__init__.py", "from . import mod\nfrom .sub import a\nfrom .b import B\n"
    )
    assert edge_targets(result) == ["pkg/mod.py", "pkg/sub/a.py", "pkg/b.py"]
    assert result.bindings == {
        "mod": Binding("pkg/mod.py", None),
        "a": Binding("pkg/sub/a.py", None),
        "B": Binding("pkg/b.py", "B"),
    }


def test_relative_import_from_nested_init_resolves_module_of_parent_package():
    result = resolve_imports(
        PY_REPO, "pkg/sub/__init__.py", "from .a import f\nfrom ..mod import g\n"
    )
    assert result.edges == [("pkg/sub/a.py", 1, ".a"), ("pkg/mod.py", 2, "..mod")]
    assert result.bindings == {
        "f": Binding("pkg/sub/a.py", "f"),
        "g": Binding("pkg/mod.py", "g"),
    }


def test_relative_submodule_import_edge_is_labelled_with_its_relative_module():
    result = resolve_imports(PY_REPO + ["pkg/sub/x.py"], "pkg/sub/a.py", "from . import x\n")
    assert result.edges == [("pkg/sub/x.py", 1, ".x")]


def test_import_never_links_a_file_to_itself():
    result = resolve_imports(PY_REPO, "pkg/mod.py", "import pkg.mod\nfrom . import mod\n")
    assert result.edges == []


SRC_REPO = ["src/proj/__init__.py", "src/proj/core.py", "src/proj/cli.py", "tests/test_core.py"]


def test_src_layout_package_imports_resolve_without_src_prefix():
    result = resolve_imports(
        SRC_REPO, "tests/test_core.py", "from proj.core import run\nimport proj.cli\n"
    )
    assert result.edges == [
        ("src/proj/core.py", 1, "proj.core"),
        ("src/proj/cli.py", 2, "proj.cli"),
    ]
    assert result.bindings["run"] == Binding("src/proj/core.py", "run")
    assert result.bindings["proj"] == Binding("src/proj/__init__.py", None)


def test_src_layout_import_from_inside_the_package():
    result = resolve_imports(SRC_REPO, "src/proj/cli.py", "from proj import core\n")
    assert result.edges == [("src/proj/core.py", 1, "proj.core")]
    assert result.bindings == {"core": Binding("src/proj/core.py", None)}


def test_ambiguous_module_name_prefers_file_in_importing_directory():
    paths = ["a/util.py", "b/util.py", "a/main.py"]
    result = resolve_imports(paths, "a/main.py", "import util\n")
    assert edge_targets(result) == ["a/util.py"]


# === JavaScript / TypeScript imports ============================================================

JS_REPO = [
    "web/app.ts",
    "web/util.ts",
    "web/comp/index.ts",
    "web/helper.js",
    "web/esm.ts",
    "web/types.d.ts",
    "web/view.tsx",
    "web/lib/index.js",
    "shared/x.ts",
]


def test_js_relative_import_infers_ts_extension():
    result = resolve_imports(JS_REPO, "web/app.ts", 'import { u } from "./util";\n')
    assert result.edges == [("web/util.ts", 1, "./util")]
    assert result.bindings == {"u": Binding("web/util.ts", "u")}


def test_js_directory_import_resolves_index_ts():
    result = resolve_imports(JS_REPO, "web/app.ts", 'import c from "./comp";\n')
    assert result.edges == [("web/comp/index.ts", 1, "./comp")]
    assert result.bindings == {"c": Binding("web/comp/index.ts", None)}  # default import


def test_js_directory_import_resolves_index_js():
    result = resolve_imports(JS_REPO, "web/app.ts", 'import L from "./lib";\n')
    assert edge_targets(result) == ["web/lib/index.js"]


def test_ts_import_of_js_extension_resolves_ts_source():
    result = resolve_imports(JS_REPO, "web/app.ts", 'import { e } from "./esm.js";\n')
    assert result.edges == [("web/esm.ts", 1, "./esm.js")]


def test_js_import_infers_js_tsx_and_d_ts_extensions():
    result = resolve_imports(
        JS_REPO,
        "web/app.ts",
        'import h from "./helper";\nimport { T } from "./types";\nimport V from "./view";\n',
    )
    assert edge_targets(result) == ["web/helper.js", "web/types.d.ts", "web/view.tsx"]


def test_js_parent_directory_import_resolves():
    result = resolve_imports(JS_REPO, "web/app.ts", 'import X from "../shared/x";\n')
    assert result.edges == [("shared/x.ts", 1, "../shared/x")]


def test_js_package_import_and_import_outside_repository_produce_no_edge():
    result = resolve_imports(
        JS_REPO,
        "web/app.ts",
        'import React from "react";\nimport s from "@scope/pkg/sub";\n'
        'import Y from "../../out";\nimport Z from "./missing";\n',
    )
    assert result.edges == []
    assert result.bindings == {}


def test_js_namespace_import_binds_alias_to_module():
    result = resolve_imports(JS_REPO, "web/app.ts", 'import * as util from "./util";\n')
    assert result.bindings == {"util": Binding("web/util.ts", None)}


def test_js_require_and_reexport_resolve_relative_paths():
    result = resolve_imports(
        JS_REPO,
        "web/helper.js",
        'const u = require("./util");\nexport * from "./comp/index.ts";\n',
    )
    assert result.edges == [
        ("web/util.ts", 1, "./util"),
        ("web/comp/index.ts", 2, "./comp/index.ts"),
    ]
    assert result.bindings == {"u": Binding("web/util.ts", None)}


# === Go imports =================================================================================

GO_REPO = ["go.mod", "main.go", "util/a.go", "util/b.go", "util/a_test.go", "util/sub/c.go"]


def test_go_import_under_module_path_links_every_non_test_file_of_the_package():
    result = resolve_imports(
        GO_REPO, "main.go",
        'package main\n\nimport "example.com/app/util"\n', go_module="example.com/app",
    )
    assert result.edges == [
        ("util/a.go", 3, "example.com/app/util"),
        ("util/b.go", 3, "example.com/app/util"),
    ]
    assert result.bindings == {"util": Binding("util/a.go", None)}


def test_go_aliased_import_of_nested_package_binds_alias():
    result = resolve_imports(
        GO_REPO, "main.go",
        'package main\n\nimport s "example.com/app/util/sub"\n', go_module="example.com/app",
    )
    assert result.edges == [("util/sub/c.go", 3, "example.com/app/util/sub")]
    assert result.bindings == {"s": Binding("util/sub/c.go", None)}


def test_go_stdlib_and_other_module_imports_produce_no_edge():
    result = resolve_imports(
        GO_REPO, "main.go",
        'package main\n\nimport (\n\t"fmt"\n\t"github.com/other/util"\n)\n',
        go_module="example.com/app",
    )
    assert result.edges == []


def test_go_import_without_go_mod_module_produces_no_edge():
    result = resolve_imports(GO_REPO, "main.go", 'package main\n\nimport "example.com/app/util"\n')
    assert result.edges == []


def test_go_module_prefix_must_end_at_a_path_segment():
    result = resolve_imports(
        GO_REPO + ["pputil/x.go"], "main.go",
        'package main\n\nimport "example.com/apputil/x"\n', go_module="example.com/app",
    )
    assert result.edges == []


def test_read_go_module_parses_module_line():
    assert read_go_module('// header\nmodule "example.com/app"\n\ngo 1.22\n') == "example.com/app"
    assert read_go_module("module example.com/x/v2\n") == "example.com/x/v2"
    assert read_go_module("go 1.22\n") is None


# === Java imports ===============================================================================

JAVA_ROOT = "src/main/java/com/ex"
JAVA_REPO = [
    f"{JAVA_ROOT}/App.java",
    f"{JAVA_ROOT}/util/Strings.java",
    f"{JAVA_ROOT}/util/Nums.java",
    f"{JAVA_ROOT}/model/User.java",
]


def test_java_class_import_resolves_class_file_under_source_root():
    result = resolve_imports(
        JAVA_REPO, f"{JAVA_ROOT}/App.java", "package com.ex;\nimport com.ex.model.User;\n"
    )
    assert result.edges == [(f"{JAVA_ROOT}/model/User.java", 2, "com.ex.model")]
    assert result.bindings == {"User": Binding(f"{JAVA_ROOT}/model/User.java", "User")}


def test_java_wildcard_import_links_every_class_of_the_package():
    result = resolve_imports(
        JAVA_REPO, f"{JAVA_ROOT}/App.java", "package com.ex;\nimport com.ex.util.*;\n"
    )
    assert sorted(edge_targets(result)) == [
        f"{JAVA_ROOT}/util/Nums.java",
        f"{JAVA_ROOT}/util/Strings.java",
    ]
    assert result.bindings == {}


def test_java_static_import_binds_member_in_class_file():
    result = resolve_imports(
        JAVA_REPO, f"{JAVA_ROOT}/App.java",
        "package com.ex;\nimport static com.ex.util.Strings.join;\n",
    )
    assert edge_targets(result) == [f"{JAVA_ROOT}/util/Strings.java"]
    assert result.bindings == {"join": Binding(f"{JAVA_ROOT}/util/Strings.java", "join")}


def test_java_jdk_import_produces_no_edge():
    result = resolve_imports(
        JAVA_REPO, f"{JAVA_ROOT}/App.java", "package com.ex;\nimport java.util.List;\n"
    )
    assert result.edges == []


# === Rust imports ===============================================================================

RUST_REPO = ["src/main.rs", "src/foo.rs", "src/bar/mod.rs", "src/a/mod.rs", "src/a/b.rs",
             "src/a/c.rs"]


def test_rust_mod_declaration_resolves_file_or_mod_rs():
    result = resolve_imports(RUST_REPO, "src/main.rs", "mod foo;\nmod bar;\nmod missing;\n")
    assert result.edges == [("src/foo.rs", 1, "foo"), ("src/bar/mod.rs", 2, "bar")]
    assert result.bindings == {
        "foo": Binding("src/foo.rs", None),
        "bar": Binding("src/bar/mod.rs", None),
    }


def test_rust_mod_declaration_in_mod_rs_resolves_sibling_files():
    result = resolve_imports(RUST_REPO, "src/a/mod.rs", "pub mod b;\nmod c;\n")
    assert edge_targets(result) == ["src/a/b.rs", "src/a/c.rs"]


def test_rust_use_crate_path_resolves_module_file():
    result = resolve_imports(RUST_REPO, "src/main.rs", "use crate::a::b;\n")
    assert result.edges == [("src/a/b.rs", 1, "crate::a")]
    assert result.bindings == {"b": Binding("src/a/b.rs", None)}


def test_rust_use_crate_item_binds_item_in_its_module_file():
    result = resolve_imports(RUST_REPO, "src/main.rs", "use crate::a::c::Thing as T;\n")
    assert result.edges == [("src/a/c.rs", 1, "crate::a::c")]
    assert result.bindings == {"T": Binding("src/a/c.rs", "Thing")}


def test_rust_use_super_resolves_sibling_module_and_glob_links_file():
    result = resolve_imports(RUST_REPO, "src/a/b.rs", "use super::c::Thing;\nuse crate::foo::*;\n")
    assert result.edges == [("src/a/c.rs", 1, "super::c"), ("src/foo.rs", 2, "crate::foo")]
    assert result.bindings == {"Thing": Binding("src/a/c.rs", "Thing")}


def test_rust_external_crate_use_produces_no_edge():
    result = resolve_imports(RUST_REPO, "src/main.rs", "use std::io;\nuse serde::Serialize;\n")
    assert result.edges == []


# === C / C++ includes ===========================================================================

C_REPO = ["src/main.c", "src/x.h", "include/y.h", "lib/y.h", "src/sub/z.h", "other/z.h"]


def test_c_quoted_include_resolves_relative_to_including_file():
    result = resolve_imports(C_REPO, "src/main.c", '#include "x.h"\n#include "sub/z.h"\n')
    assert result.edges == [("src/x.h", 1, "x.h"), ("src/sub/z.h", 2, "sub/z.h")]


def test_c_quoted_include_with_parent_directory():
    result = resolve_imports(C_REPO, "src/sub/z.h", '#include "../x.h"\n')
    assert result.edges == [("src/x.h", 1, "../x.h")]


def test_c_quoted_include_not_next_to_file_links_every_basename_match():
    result = resolve_imports(C_REPO, "src/main.c", '#include "y.h"\n')
    assert result.edges == [("include/y.h", 1, "y.h"), ("lib/y.h", 1, "y.h")]


def test_c_system_include_and_missing_header_produce_no_edge():
    result = resolve_imports(C_REPO, "src/main.c", '#include <x.h>\n#include "nowhere.h"\n')
    assert result.edges == []


def test_cpp_quoted_include_resolves():
    result = resolve_imports(["geo/shape.hpp"], "geo/shape.cpp", '#include "shape.hpp"\n')
    assert result.edges == [("geo/shape.hpp", 1, "shape.hpp")]


# === Call resolution ============================================================================


def test_call_to_function_in_same_file_resolves_local_and_counts_calls():
    edges = resolve_calls(
        {"a.py": "def helper():\n    pass\n\ndef main():\n    helper()\n    helper()\n"}, "a.py"
    )
    assert edges == [("main", "a.py", "helper", "local", 2)]


def test_self_method_call_resolves_to_method_of_enclosing_class():
    edges = resolve_calls(
        {"a.py": "class K:\n    def run(self):\n        self.step()\n\n"
                 "    def step(self):\n        pass\n"},
        "a.py",
    )
    assert edges == [("K.run", "a.py", "K.step", "self", 1)]


def test_nested_function_call_resolves_to_the_nested_definition():
    edges = resolve_calls(
        {"a.py": "def outer():\n    def inner():\n        pass\n    return inner()\n"}, "a.py"
    )
    assert edges == [("outer", "a.py", "outer.inner", "local", 1)]


def test_bare_call_inside_python_method_does_not_resolve_to_sibling_method():
    edges = resolve_calls(
        {"a.py": "def step():\n    pass\n\nclass K:\n    def step(self):\n        pass\n\n"
                 "    def run(self):\n        step()\n"},
        "a.py",
    )
    assert edges == [("K.run", "a.py", "step", "local", 1)]


def test_imported_function_call_resolves_to_imported_file_over_global_duplicates():
    edges = resolve_calls(
        {
            "m.py": "def f():\n    pass\n",
            "other.py": "def f():\n    pass\n",
            "app.py": "from m import f\n\ndef main():\n    f()\n",
        },
        "app.py",
    )
    assert edges == [("main", "m.py", "f", "import", 1)]


def test_aliased_import_call_resolves_to_original_name():
    edges = resolve_calls(
        {
            "m.py": "def f():\n    pass\n",
            "app.py": "from m import f as g\n\ndef main():\n    g()\n",
        },
        "app.py",
    )
    assert edges == [("main", "m.py", "f", "import", 1)]


def test_call_through_package_reexport_resolves_to_defining_module():
    edges = resolve_calls(
        {
            "pkg/__init__.py": "from .impl import thing\n",
            "pkg/impl.py": "def thing():\n    pass\n",
            "app.py": "from pkg import thing\n\ndef main():\n    thing()\n",
        },
        "app.py",
    )
    assert edges == [("main", "pkg/impl.py", "thing", "import", 1)]


def test_call_through_aliased_two_hop_reexport_resolves_to_defining_module():
    edges = resolve_calls(
        {
            "pkg/__init__.py": "from .sub import public\n",
            "pkg/sub/__init__.py": "from .impl import thing as public\n",
            "pkg/sub/impl.py": "def thing():\n    pass\n",
            "app.py": "from pkg import public\n\ndef main():\n    public()\n",
        },
        "app.py",
    )
    assert edges == [("main", "pkg/sub/impl.py", "thing", "import", 1)]


def test_unique_global_name_resolves_without_import():
    edges = resolve_calls(
        {"lib.py": "def unique_name():\n    pass\n", "app.py": "def main():\n    unique_name()\n"},
        "app.py",
    )
    assert edges == [("main", "lib.py", "unique_name", "global", 1)]


def test_global_resolution_ignores_methods_for_bare_calls():
    edges = resolve_calls(
        {
            "lib.py": "def run():\n    pass\n",
            "k.py": "class K:\n    def run(self):\n        pass\n",
            "app.py": "def main():\n    run()\n",
        },
        "app.py",
    )
    assert edges == [("main", "lib.py", "run", "global", 1)]


@pytest.mark.parametrize("count", [2, 3, MAX_CANDIDATES])
def test_name_with_two_to_five_definitions_links_each_marked_ambiguous(count):
    files = {f"x{i}.py": "def dup():\n    pass\n" for i in range(count)}
    files["app.py"] = "def main():\n    dup()\n"
    edges = resolve_calls(files, "app.py")
    assert edges == [("main", f"x{i}.py", "dup", "ambiguous", 1) for i in range(count)]


@pytest.mark.parametrize("count", [MAX_CANDIDATES + 1, MAX_CANDIDATES + 3])
def test_name_with_more_than_five_definitions_gets_no_edge(count):
    files = {f"x{i}.py": "def dup():\n    pass\n" for i in range(count)}
    files["app.py"] = "def main():\n    dup()\n"
    assert resolve_calls(files, "app.py") == []


def test_bare_call_candidate_count_ignores_same_named_methods():
    files = {f"f{i}.py": "def run():\n    pass\n" for i in range(3)}
    files.update({f"c{i}.py": "class C:\n    def run(self):\n        pass\n" for i in range(5)})
    files["app.py"] = "def main():\n    run()\n"
    assert resolve_calls(files, "app.py") == [
        ("main", f"f{i}.py", "run", "ambiguous", 1) for i in range(3)
    ]


def test_module_alias_receiver_resolves_function_in_module():
    edges = resolve_calls(
        {
            "pkg/__init__.py": "",
            "pkg/mod.py": "def f():\n    pass\n",
            "app.py": "import pkg.mod as m\n\ndef main():\n    m.f()\n",
        },
        "app.py",
    )
    assert edges == [("main", "pkg/mod.py", "f", "import", 1)]


def test_dotted_module_receiver_resolves_function_in_module():
    edges = resolve_calls(
        {
            "pkg/__init__.py": "",
            "pkg/mod.py": "def f():\n    pass\n",
            "app.py": "import pkg.mod\n\ndef main():\n    pkg.mod.f()\n",
        },
        "app.py",
    )
    assert edges == [("main", "pkg/mod.py", "f", "import", 1)]


def test_imported_class_receiver_and_instance_call_resolve_method():
    edges = resolve_calls(
        {
            "m.py": "class K:\n    def go(self):\n        pass\n",
            "app.py": "from m import K\n\ndef main():\n    K().go()\n    K.go(None)\n",
        },
        "app.py",
    )
    assert edges == [
        ("main", "m.py", "K", "import", 1),
        ("main", "m.py", "K.go", "import", 2),
    ]


def test_recursive_call_produces_no_self_edge_nor_global_edge():
    edges = resolve_calls(
        {
            "a.py": "def fact(n):\n    return n * fact(n - 1)\n",
            "b.py": "def fact(n):\n    return 1\n",
        },
        "a.py",
    )
    assert edges == []


def test_recursive_self_method_call_produces_no_self_edge():
    edges = resolve_calls({"a.py": "class K:\n    def walk(self):\n        self.walk()\n"}, "a.py")
    assert edges == []


def test_java_bare_call_resolves_sibling_method_through_implicit_this():
    edges = resolve_calls({"A.java": "class A {\n  void a() { b(); }\n  void b() {}\n}\n"},
                          "A.java")
    assert edges == [("A.a", "A.java", "A.b", "local", 1)]


def test_ts_named_alias_and_namespace_imports_resolve_calls():
    edges = resolve_calls(
        {
            "web/app.ts": 'import { area as computeArea } from "./geo";\n'
                          'import * as g from "./geo";\n'
                          "function main() { computeArea(); g.perimeter(); }\n",
            "web/geo.ts": "export function area() {}\nexport function perimeter() {}\n",
        },
        "web/app.ts",
    )
    assert edges == [
        ("main", "web/geo.ts", "area", "import", 1),
        ("main", "web/geo.ts", "perimeter", "import", 1),
    ]


def test_rust_module_path_and_imported_type_calls_resolve():
    edges = resolve_calls(
        {
            "src/main.rs": "mod util;\nmod geo;\nuse crate::geo::Circle;\n"
                           "fn main() { util::pi(); Circle::new(); }\n",
            "src/util.rs": "pub fn pi() -> f64 { 3.14 }\n",
            "src/geo.rs": "pub struct Circle;\nimpl Circle { pub fn new() -> Self { Circle } }\n",
        },
        "src/main.rs",
    )
    assert edges == [
        ("main", "src/geo.rs", "Circle.new", "import", 1),
        ("main", "src/util.rs", "pi", "import", 1),
    ]


def test_go_package_call_resolves_through_package_binding():
    edges = resolve_calls(
        {
            "go.mod": "module example.com/app\n",
            "main.go": 'package main\n\nimport "example.com/app/util"\n\n'
                       "func main() { util.Other() }\n",
            "util/a.go": "package util\n\nfunc Other() {}\n",
            "util/b.go": "package util\n\nfunc Do() {}\n",
        },
        "main.go",
        go_module="example.com/app",
    )
    assert edges == [("main", "util/a.go", "Other", "import", 1)]


def test_go_package_call_resolves_to_the_file_defining_the_function():
    edges = resolve_calls(
        {
            "go.mod": "module example.com/app\n",
            "main.go": 'package main\n\nimport "example.com/app/util"\n\n'
                       "func main() { util.Do() }\n",
            "util/a.go": "package util\n\nfunc Other() {}\n",
            "util/b.go": "package util\n\nfunc Do() {}\n",
            "x/y.go": "package x\n\nfunc Do() {}\n",
        },
        "main.go",
        go_module="example.com/app",
    )
    assert edges == [("main", "util/b.go", "Do", "import", 1)]

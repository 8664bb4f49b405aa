; sleepcoder additions to the tags.scm shipped with tree-sitter-cpp (which has no references).
(preproc_include) @import

(namespace_definition name: (namespace_identifier) @scope.name body: (_)) @scope.namespace

(call_expression
  function: (identifier) @name) @reference.call
(call_expression
  function: (field_expression field: (field_identifier) @name)) @reference.call
(call_expression
  function: (qualified_identifier name: (identifier) @name)) @reference.call
(call_expression
  function: (template_function name: (identifier) @name)) @reference.call
(base_class_clause (type_identifier) @name) @reference.inherit
(type_identifier) @name @reference.type

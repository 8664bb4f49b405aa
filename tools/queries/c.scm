; sleepcoder additions to the tags.scm shipped with tree-sitter-c (which has no references).
(preproc_include) @import

(call_expression
  function: (identifier) @name) @reference.call
(call_expression
  function: (field_expression field: (field_identifier) @name)) @reference.call
(type_identifier) @name @reference.type

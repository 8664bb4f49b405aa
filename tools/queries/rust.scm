; sleepcoder additions to the tags.scm shipped with tree-sitter-rust.
(use_declaration) @import
(mod_item !body) @import

(impl_item type: (_) @scope.name) @scope.class

(call_expression
  function: (scoped_identifier name: (identifier) @name)) @reference.call

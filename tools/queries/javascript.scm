; sleepcoder additions to the tags.scm shipped with tree-sitter-javascript.
(import_statement source: (string)) @import
(export_statement source: (string)) @import
((call_expression
   function: (identifier) @_fn
   arguments: (arguments . (string))) @import
 (#eq? @_fn "require"))
(call_expression
  function: (import)
  arguments: (arguments . (string))) @import

(class_heritage
  [(identifier) @name
   (member_expression property: (property_identifier) @name)]) @reference.inherit

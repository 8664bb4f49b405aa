; sleepcoder additions to the tags.scm shipped with tree-sitter-javascript and -typescript.
(import_statement source: (string)) @import
(export_statement source: (string)) @import
((call_expression
   function: (identifier) @_fn
   arguments: (arguments . (string))) @import
 (#eq? @_fn "require"))
(call_expression
  function: (import)
  arguments: (arguments . (string))) @import

(type_alias_declaration name: (type_identifier) @name) @definition.type
(enum_declaration name: (identifier) @name) @definition.enum

(extends_clause
  value: [(identifier) @name
          (member_expression property: (property_identifier) @name)]) @reference.inherit
(implements_clause (type_identifier) @name) @reference.inherit
(extends_type_clause type: (type_identifier) @name) @reference.inherit

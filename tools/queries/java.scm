; sleepcoder additions to the tags.scm shipped with tree-sitter-java.
(import_declaration) @import
(enum_declaration name: (identifier) @name) @definition.enum
(record_declaration name: (identifier) @name) @definition.class
(constructor_declaration name: (identifier) @name) @definition.constructor

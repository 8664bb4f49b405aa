; sleepcoder additions to the tags.scm shipped with tree-sitter-python.
(import_statement) @import
(import_from_statement) @import

(class_definition
  superclasses: (argument_list
    [(identifier) @name
     (attribute attribute: (identifier) @name)]) @reference.inherit)

(decorator
  [(identifier) @name
   (attribute attribute: (identifier) @name)]) @reference.decorator

; Type annotations are deliberately not references: they were half of all matches (and of the
; Python-side extraction cost), and the files they point to are already linked by imports.

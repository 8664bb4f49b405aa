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

(type [(identifier) @name
       (generic_type (identifier) @name)]) @reference.type

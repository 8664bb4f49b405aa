; sleepcoder additions to the tags.scm shipped with tree-sitter-go.
(import_spec) @import

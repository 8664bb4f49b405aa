"""sleepcoder: a coding agent that maps a repository at sleep time and uses the map at task time.

This package holds the command line and the shared configuration; the work lives in the
top-level packages `tools` (deterministic map), `agent` (LLM graphs), `tasks` and `swe_features`.
"""

__version__ = "0.1.0"

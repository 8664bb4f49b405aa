"""The LLM side of sleepcoder: model wrapper, sleep-time graph and task-time solve graph.

Not built yet: issue 3 (LLM layer, sleep graph) and issue 4 (solve graph) fill this package.
"""

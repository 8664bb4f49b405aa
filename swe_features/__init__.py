"""SWE-Features: dataset loading and building, the file-level F1 scorer, the evaluation runner.

Not built yet: issue 5 fills this package.
"""

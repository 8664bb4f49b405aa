"""Where tasks come from (local request, GitHub issue, SWE-Features instance) and where results go.

Not built yet: issues 4 and 6 fill this package.
"""

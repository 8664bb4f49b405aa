"""Task time: the solve graph that turns a feature request into a validated multi-file diff."""

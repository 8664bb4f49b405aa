"""The sleep-time pass: module summaries and likely-change notes, incremental and resumable."""

"""Fewer cyclic garbage collections while a map is built: its phases make millions of
short-lived containers, and every collection walks the live ones of its generations.

At 33,000 files the map ran 50 full collections (about 10 s of 130, against 0.3 s of 8.6 at
3,300 files: their number and their size both grow with the tree). A larger young generation
lets the short-lived containers die before they are promoted; nothing the map stores changes.
The young generation also grows with the tree (`BulkCollections.scale`): a build's transient
structures do (the calibration's candidates of every file, a batch's documents), and with a
fixed size the share of them a collection walks before they die grew with the tree too.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

# young-generation size and collections between older ones while a map is built (CPython's
# defaults: 700, 10, 10); 50,000 young objects are a few MB
BUILD_THRESHOLDS = (50_000, 20, 20)
# young objects per mapped file. At 33,000 files, 50,000 ran 158 collections (1.6-2.0 s of the
# main process's 50 s of CPU, against 8 and 0.06 s at 3,300 files); 20 per file ran 6
# (0.6 s). A build leaves ~100 objects in cycles: a larger generation holds no more memory
YOUNG_PER_FILE = 20


class BulkCollections:
    """The thresholds inside `fewer_collections`; `scale` raises the young generation once the
    build knows how many files it maps."""

    def __init__(self, thresholds: tuple[int, int, int]) -> None:
        self.thresholds = thresholds

    def scale(self, files: int) -> None:
        """At least `YOUNG_PER_FILE` young objects per file (never lower; collection left off
        when it was off)."""
        young, *older = self.thresholds
        if young:
            gc.set_threshold(max(young, YOUNG_PER_FILE * files), *older)


@contextmanager
def fewer_collections(thresholds: tuple[int, int, int] = BUILD_THRESHOLDS
                      ) -> Iterator[BulkCollections]:
    """Collect less often inside the block; the previous thresholds come back after it, also
    when it raises. Thresholds already higher are kept, and so is a young threshold of 0
    (automatic collection turned off)."""
    before = gc.get_threshold()
    raised = [max(old, new) for old, new in zip(before, thresholds, strict=True)]
    if before[0] == 0:
        raised[0] = 0
    gc.set_threshold(*raised)
    try:
        yield BulkCollections((raised[0], raised[1], raised[2]))
    finally:
        gc.set_threshold(*before)

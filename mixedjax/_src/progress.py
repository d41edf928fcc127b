"""Progress of long batches: a tqdm bar that counts replicates.

``progress=None`` (the default) shows the bar once a batch has run for a second and is then
expected to take more than ``AUTO_SECONDS`` in all; ``True`` shows it from the start and
``False`` never. Without tqdm installed, a batch that would show one says so once, with the fix.
"""
from __future__ import annotations

import time
import warnings

from .arguments import ArgumentError
from .errors import ProgressWarning

AUTO_SECONDS = 2.0
_FIRST_LOOK_SECONDS = 1.0


def _tqdm():
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm


class ProgressReporter:
    """Counts finished replicates of one batch of ``total`` and shows them as they are due."""

    def __init__(self, total: int, progress: bool | None):
        if progress not in (None, True, False):
            raise ArgumentError(f"progress must be True, False or None (automatic), got {progress!r}")
        self.total, self.mode, self.done = total, progress, 0
        self._start, self._bar, self._warned = time.perf_counter(), None, False
        if progress:
            self._open()

    def _due(self) -> bool:
        elapsed = time.perf_counter() - self._start
        if self.mode is not None or self.done >= self.total or elapsed < _FIRST_LOOK_SECONDS:
            return False
        return elapsed * self.total / max(self.done, 1) > AUTO_SECONDS

    def _open(self) -> None:
        tqdm = _tqdm()
        if tqdm is None:
            if not self._warned:
                self._warned = True
                warnings.warn("no progress bar: tqdm is not installed (pip install tqdm); "
                              "progress=False turns this message off", ProgressWarning, stacklevel=4)
            return
        self._bar = tqdm(total=self.total, initial=self.done, unit="fit",
                         desc=f"refitting {self.total} datasets")

    def advance(self, count: int) -> None:
        self.done += count
        if self._bar is not None:
            self._bar.update(count)
        elif not self._warned and self._due():
            self._open()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()

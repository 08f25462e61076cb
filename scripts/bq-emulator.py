"""Runs `bqemulator` with its DuckDB on one thread.

The emulator's own DuckDB (1.5.5) once hit an internal assertion in its
parallel window operator ("Attempted to access index 0 within vector of
size 0" in WindowLocalSourceState::Finalize) on a query with
`COUNT(*) OVER ()`, failing a conformance test that passes on every other
run. bqemulator has no threads option, so this launcher sets DuckDB's
`threads` right after the emulator opens its connection. The emulator's
queries are small; one thread also leaves the 2-core machine to the tests.
"""
import sys

from bqemulator.cli import main
from bqemulator.storage.engine import DuckDBEngine

_apply = DuckDBEngine._apply_session_pragmas


def _one_thread(self):
    _apply(self)
    self._connection.execute("SET threads = 1")


DuckDBEngine._apply_session_pragmas = _one_thread

if __name__ == "__main__":
    sys.exit(main())

"""Machine-readable events of a run (``--log-format json``, ``--log-path FILE``): one JSON
object per line, each with ``ts`` (ISO 8601 UTC) and ``event``, the other keys by event:

=========  =================================================================================
start      a model starts: ``unique_id``, ``model``, ``materialized``, ``index``, ``total``
heartbeat  a model still running: ``unique_id``, ``model``, ``materialized``, ``elapsed``
           (seconds), ``query_id`` (null where the engine has none)
finish     a model ended: ``unique_id``, ``model``, ``materialized``, ``status`` (``success``,
           ``no-op``, ``error``, ``skipped``), ``relation``, ``rows``, ``query_id``,
           ``dataset_id``, ``execution_time``, ``message``; and once for the whole build, with
           ``unique_id`` null: ``status`` (``success``/``error``), ``counts``, ``elapsed_time``
error      a model failed (after its ``finish``): ``unique_id``, ``model``, ``message``; or the
           command failed: ``unique_id`` null, ``message``, ``exit_code``
test       a data test ran (after its model's ``finish``): ``unique_id`` (``test.<project>.
           <name>``), ``model``, ``status`` (``pass``, ``warn``, ``fail``, ``error``),
           ``severity``, ``failures``, ``execution_time``, ``message``
export     an export ended: ``unique_id`` (its exposure), ``model``, ``destination``,
           ``status``, ``message``, ``path``, ``records``, ``files``
=========  =================================================================================

Keys are only ever added. Every secret the target knows (``Adapter.secrets``) is masked in the
text, as in every other output.
"""

from __future__ import annotations

import datetime
import json
import threading
from collections.abc import Callable, Iterable
from typing import Any

from runner.platform.secrets import Secret, mask

EVENTS = ("start", "heartbeat", "finish", "error", "export", "test")


class EventLog:
    """Writes each event as one JSON line to every sink (thread-safe).

    Args:
        sinks: callables taking one line (stdout, a file's writer).
        secrets: returns the secrets to mask (asked at each event: tokens are refreshed).
    """

    def __init__(self, sinks: Iterable[Callable[[str], None]],
                 secrets: Callable[[], list[str | Secret | None]] = list) -> None:
        self._sinks = list(sinks)
        self.secrets = secrets
        self._lock = threading.Lock()

    def emit(self, event: str, **fields: Any) -> None:
        """Write one event (``event`` one of ``EVENTS``)."""
        assert event in EVENTS, event
        now = datetime.datetime.now(datetime.timezone.utc)
        record = {"ts": now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "event": event, **fields}
        line = mask(json.dumps(record, default=str), *self.secrets())
        with self._lock:
            for sink in self._sinks:
                sink(line)

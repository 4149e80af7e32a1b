"""A comm that builds and counts what ipywidgets would send to a browser, for benchmarks outside a kernel."""

from __future__ import annotations

import json
from typing import Any

import comm
from comm.base_comm import BaseComm


class RecordingComm(BaseComm):
    """Serialises every widget message as a kernel would, and adds up its bytes in ``sent``."""

    sent = 0

    def publish_msg(
        self, msg_type: str, data: Any = None, metadata: Any = None, buffers: Any = None, **keys: Any
    ) -> None:
        RecordingComm.sent += len(json.dumps(data, default=str)) + sum(memoryview(b).nbytes for b in buffers or [])


def record_widget_messages() -> None:
    """Make every widget created from now on use a RecordingComm (call before creating widgets)."""
    comm.create_comm = RecordingComm

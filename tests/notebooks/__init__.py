"""Notebooks executed by nbclient in a real kernel."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nbclient import NotebookClient


def execute(nb: Any, folder: Path, store_widget_state: bool = False) -> list[dict[str, Any]]:
    """Run every cell of ``nb`` (in place) with ``folder`` as the working directory; returns the error outputs."""
    NotebookClient(
        nb,
        timeout=600,
        kernel_name="python3",
        store_widget_state=store_widget_state,
        resources={"metadata": {"path": str(folder)}},
    ).execute()
    return [o for cell in nb.cells for o in cell.get("outputs", []) if o.get("output_type") == "error"]

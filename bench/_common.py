"""What the bench scripts share: quiet library logs, the repository root, percentiles."""

from __future__ import annotations

import logging
from pathlib import Path

from bot.evaluation import percentile

ROOT = Path(__file__).resolve().parents[1]

__all__ = ["ROOT", "percentile", "quiet_logs"]


def quiet_logs() -> None:
    """Libraries' INFO lines (progress, HTTP, telemetry) would bury a bench's figures."""
    for name in ("bm25s", "chromadb", "httpx", "llama_index", "onnxruntime"):
        logging.getLogger(name).setLevel(logging.WARNING)

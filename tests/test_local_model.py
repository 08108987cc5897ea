"""Preparing the local model for int8 arithmetic: what it makes, caching, failures."""

from __future__ import annotations

import collections
import os
from pathlib import Path

import onnx
import pytest
from conftest import live_generation, make_settings
from typer.testing import CliRunner

from bot.cli.app import app
from index.embeddings import EmbeddingUnavailable, LocalMiniLMEmbedding, _local_model_files
from index.local_model import ModelPreparationError, _cache_key, prepared_model_file


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("model-cache")


@pytest.fixture(scope="module")
def prepared(cache_dir: Path) -> Path:
    source, _ = _local_model_files()
    return prepared_model_file(source, cache_dir)


def test_prepared_once_then_reused(prepared: Path, cache_dir: Path) -> None:
    assert prepared.parent == cache_dir and prepared.stat().st_size > 0
    made = prepared.stat().st_mtime_ns
    source, _ = _local_model_files()
    assert prepared_model_file(source, cache_dir) == prepared
    assert prepared.stat().st_mtime_ns == made
    # Only the finished file is left: no scratch folder, nothing half-written.
    assert list(cache_dir.iterdir()) == [prepared]


def test_prepared_model_computes_in_int8_without_nan_guards(prepared: Path) -> None:
    model = onnx.load(str(prepared))
    ops = collections.Counter(node.op_type for node in model.graph.node)
    assert ops["IsNaN"] == 0
    assert ops["MatMulInteger"] > 0 and ops["DynamicQuantizeLinear"] > 0
    # Per layer, the feed-forward output projection and the two attention
    # products stay in fp32 (3 MatMuls); the query, key, value, attention
    # output and feed-forward input projections are int8 (5).
    layers = ops["Softmax"]
    assert layers == 6
    assert ops["MatMul"] == 3 * layers
    assert ops["MatMulInteger"] == 5 * layers


def test_another_source_gets_its_own_file(tmp_path: Path, prepared: Path) -> None:
    source, _ = _local_model_files()
    changed = tmp_path / "model.onnx"
    model = onnx.load(str(source))
    model.doc_string = "another build of the model"
    onnx.save(model, str(changed))
    cache = tmp_path / "cache"
    other = prepared_model_file(changed, cache)
    assert other.name != prepared.name
    assert other.is_file()
    # A reinstall rewrites the file in place: that too is another source.
    before = _cache_key(changed)
    model.doc_string = "a reinstalled build"
    onnx.save(model, str(changed))
    os.utime(changed, ns=(0, changed.stat().st_mtime_ns + 1))
    assert _cache_key(changed) != before


def test_a_failed_preparation_leaves_nothing(tmp_path: Path) -> None:
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not an onnx model")
    cache = tmp_path / "cache"
    with pytest.raises(ModelPreparationError, match=r"broken\.onnx"):
        prepared_model_file(broken, cache)
    assert list(cache.iterdir()) == []


def test_unusable_cache_folder_is_a_clear_error(tmp_path: Path) -> None:
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    with pytest.raises(EmbeddingUnavailable, match="STORYBOT_MODEL_CACHE") as caught:
        LocalMiniLMEmbedding(model_cache_dir=not_a_folder / "cache")
    assert str(not_a_folder / "cache") in str(caught.value)


def test_index_cli_reports_an_unusable_cache_folder(
    tmp_path: Path, corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = tmp_path / "store"
    command = ["index", "--corpus", str(corpus), "--store", str(store), "--rebuild"]
    assert CliRunner().invoke(app, command).exit_code == 0
    indexed = live_generation(make_settings(corpus, store)).name

    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    monkeypatch.setenv("STORYBOT_MODEL_CACHE", str(not_a_folder / "cache"))
    result = CliRunner().invoke(app, command)
    assert result.exit_code == 2, result.output
    assert "STORYBOT_MODEL_CACHE" in result.output
    assert "Traceback" not in result.output
    assert live_generation(make_settings(corpus, store)).name == indexed

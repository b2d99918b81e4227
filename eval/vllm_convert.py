"""Convert the packaged Qwen GGUF to a Hugging Face folder vLLM can load (vLLM 0.32 on CPU has no
GGUF loader). Runs inside the vLLM venv: `python eval/vllm_convert.py GGUF OUT_DIR`.

transformers dequantises the GGUF (needs `gguf` and `accelerate`); `save_pretrained` refuses this
model, so the state dict goes to safetensors directly and config/tokenizer are written beside it.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def strip_gguf_quantization(config_path: Path) -> None:
    """The weights are saved dequantised; a leftover `quantization_config: {quant_method: gguf}`
    makes vLLM refuse the model ("Unknown quantization method: gguf")."""
    config = json.loads(config_path.read_text())
    config.pop("quantization_config", None)
    config_path.write_text(json.dumps(config, indent=2) + "\n")


def main(gguf: str, out: str) -> None:
    import torch
    from safetensors.torch import save_file
    from transformers import AutoModelForCausalLM, AutoTokenizer

    t0 = time.perf_counter()
    src = Path(gguf)
    dst = Path(out)
    dst.mkdir(parents=True, exist_ok=True)
    tok = AutoTokenizer.from_pretrained(str(src.parent), gguf_file=src.name)
    model = AutoModelForCausalLM.from_pretrained(
        str(src.parent), gguf_file=src.name, torch_dtype=torch.bfloat16
    )
    state = {k: v.contiguous().clone() for k, v in model.state_dict().items()}
    if getattr(model.config, "tie_word_embeddings", False):
        state.pop("lm_head.weight", None)  # shared with embed_tokens; safetensors rejects aliases
    save_file(state, str(dst / "model.safetensors"), metadata={"format": "pt"})
    model.config.torch_dtype = "bfloat16"
    model.config.to_json_file(str(dst / "config.json"))
    strip_gguf_quantization(dst / "config.json")
    model.generation_config.to_json_file(str(dst / "generation_config.json"))
    tok.save_pretrained(str(dst))
    print(f"converted {src.name} -> {dst} in {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])

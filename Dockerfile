# syntax=docker/dockerfile:1
# The canary operator image: `make image` (IMAGE=...), or `docker build -t IMAGE .`
# Stage 1 builds the wheel; stage 2 installs it with its runtime dependencies only (no compilers,
# no test extras) and runs `canary operator` as a non-root user on a read-only root filesystem.

ARG PYTHON_IMAGE=python:3.12-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY canary ./canary
RUN pip wheel --no-deps --wheel-dir /wheels .

FROM ${PYTHON_IMAGE}
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
COPY --from=builder /wheels /wheels
# Runtime dependencies as binary wheels only (nothing compiled, no build tools in this stage); the
# bytecode is compiled now, since nothing is written at run time (read-only root filesystem).
RUN pip install --only-binary=:all: /wheels/*.whl && rm -rf /wheels
# 65532: the conventional "nonroot" UID; numeric so that runAsNonRoot can verify it.
USER 65532:65532
WORKDIR /
EXPOSE 8080
ENTRYPOINT ["canary", "operator"]

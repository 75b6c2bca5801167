# syntax=docker/dockerfile:1
# Multi-stage: uv resolves and installs into a venv in the build stage; the runtime stage
# carries only the venv and the sources, and runs as a non-root user.

FROM ghcr.io/astral-sh/uv:python3.11-bookworm-slim AS build
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never
WORKDIR /app
# dependencies first: this layer is reused while only the sources change
COPY pyproject.toml uv.lock README.md ./
RUN --mount=type=cache,target=/root/.cache/uv uv sync --frozen --no-dev --no-install-project
COPY alembic.ini ./
COPY alembic ./alembic
COPY backend ./backend
RUN --mount=type=cache,target=/root/.cache/uv uv sync --frozen --no-dev

FROM python:3.11-slim-bookworm AS runtime
RUN groupadd --system --gid 10001 taskplane \
    && useradd --system --uid 10001 --gid taskplane --home-dir /app --no-create-home taskplane
WORKDIR /app
# same path as in the build stage: the venv's entry points and the project link point here
COPY --from=build --chown=taskplane:taskplane /app /app
ENV PATH="/app/.venv/bin:${PATH}" \
    PYTHONUNBUFFERED=1 \
    TASKPLANE_API_HOST=0.0.0.0
USER taskplane
EXPOSE 8000 9101 9102
ENTRYPOINT ["taskplane"]
CMD ["api"]

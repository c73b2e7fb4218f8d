# One image for every service; docker-compose.yml chooses the module each container runs
# (python -m wallet_shard | transfer_coordinator | gateway).
FROM python:3.11-slim

ENV UV_PYTHON_DOWNLOADS=never \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    PYTHONUNBUFFERED=1 \
    PATH=/app/.venv/bin:$PATH

RUN pip install --no-cache-dir uv==0.13.8

WORKDIR /app

# Third-party dependencies first, from the lock file alone: this layer survives code changes.
COPY pyproject.toml uv.lock ./
COPY shared/pyproject.toml shared/
COPY services/gateway/pyproject.toml services/gateway/
COPY services/wallet-shard/pyproject.toml services/wallet-shard/
COPY services/transfer-coordinator/pyproject.toml services/transfer-coordinator/
COPY devtools/pyproject.toml devtools/
RUN uv sync --frozen --no-dev --all-packages --no-install-workspace

COPY shared shared
COPY services services
COPY devtools devtools
RUN uv sync --frozen --no-dev --all-packages

RUN useradd --system --uid 10001 --no-create-home wallet
USER wallet

CMD ["python", "-m", "gateway"]

# Qualibot: slim, non-root, SQLite on a volume. Same steps as README's quick start.
FROM python:3.11-slim AS base

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DATABASE_URL=sqlite+aiosqlite:////data/qualibot.db

WORKDIR /app
RUN useradd --create-home --uid 10001 qualibot \
    && mkdir /data && chown qualibot /data

# Dependencies first, so code changes do not reinstall them.
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY flows ./flows
COPY storage ./storage
RUN pip install .

USER qualibot
VOLUME ["/data"]
# Webhook mode listens here when WEBHOOK_URL is set; polling needs no port.
EXPOSE 8080
CMD ["python", "-m", "bot"]

# salespulse worker / simulator image. Build: docker build -t salespulse .
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY schemas ./schemas
COPY streamer ./streamer
RUN pip install . \
    && useradd --system --uid 10001 --home-dir /var/lib/salespulse salespulse \
    && mkdir -p /var/lib/salespulse \
    && chown salespulse /var/lib/salespulse

USER salespulse
WORKDIR /var/lib/salespulse
# table store (RocksDB) and Faust state; give each worker its own volume
ENV SALESPULSE_DATA_DIR=/var/lib/salespulse/state \
    SALESPULSE_WEB_PORT=6066
VOLUME ["/var/lib/salespulse"]
EXPOSE 6066
ENTRYPOINT ["salespulse"]
CMD ["worker"]

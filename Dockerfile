# qhwy (企呼我应) service image.
# One image for every service; docker-compose.yml picks the service with
# `python -m services.<name>`. The default command runs all services in one
# process (handy for small deployments and demos).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# The CJK font of insight's charts and PDF reports.
COPY deploy/fonts.sh /tmp/fonts.sh
RUN /tmp/fonts.sh && rm -rf /var/lib/apt/lists/* /tmp/fonts.sh

# Project metadata first, then the code.
COPY pyproject.toml README.md ./
COPY shared ./shared
COPY services ./services

RUN pip install --no-cache-dir .

# Run as an unprivileged user; it owns only the data dir (QHWY_DATA_DIR, default ./var).
RUN groupadd --system --gid 10001 qhwy \
    && useradd --system --uid 10001 --gid qhwy --no-create-home --shell /usr/sbin/nologin qhwy \
    && mkdir -p /app/var \
    && chown qhwy:qhwy /app/var
USER qhwy

# Every service serves HTTP (API, /healthz, /metrics) on this port.
EXPOSE 8000

CMD ["python", "-m", "services"]

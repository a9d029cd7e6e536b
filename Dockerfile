# The gateway's image: one replica per container, under the README's production command (Granian).
# docker-compose.yml runs three of them behind HAProxy; migrations run once, before them (`migrate` service).
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# glibc's allocator for Python's objects: a worker gives memory back after a burst of streams (README).
ENV PYTHONMALLOC=malloc
WORKDIR /app
COPY requirements.txt .
RUN pip install -r requirements.txt
COPY . .
RUN useradd --system --no-create-home gateway
USER gateway

EXPOSE 8000
# SIGTERM: Granian stops listening, open requests and streams finish within --workers-kill-timeout,
# each worker writes its queued usage, exit 0. Give the container longer than that to stop.
STOPSIGNAL SIGTERM
# With --workers above 1, PROMETHEUS_MULTIPROC_DIR must name an empty directory (a tmpfs in docker-compose.yml).
CMD ["granian", "--interface", "asginl", "--host", "0.0.0.0", "--port", "8000", "--workers", "2", \
     "--loop", "uvloop", "--no-access-log", "--backlog", "4096", "--backpressure", "10000", "--workers-kill-timeout", "30", "gateway_project.asgi:application"]

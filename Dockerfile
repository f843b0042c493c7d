# syntax=docker/dockerfile:1
# Twostep's image: built from this source tree, run as an unprivileged user.
#   docker build -t twostep:0.1.0 .
#   docker run -p 8000:8000 -v twostep-data:/var/lib/twostep twostep:0.1.0
# The install and start commands live in deploy/ so that a test runs them outside a container
# engine (none runs where this project is tested): see docs/deployment.md.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 UV_NO_CACHE=1
RUN python -m pip install uv==0.13.9
WORKDIR /src
COPY pyproject.toml README.md requirements.lock ./
COPY src ./src
COPY deploy/container-install.sh ./deploy/
RUN sh deploy/container-install.sh /opt/twostep

FROM ${PYTHON_IMAGE}
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/twostep --create-home \
      --shell /usr/sbin/nologin twostep
COPY --from=build /opt/twostep/venv /opt/twostep/venv
COPY deploy/container-start.sh /opt/twostep/container-start.sh
ENV TWOSTEP_HOST=0.0.0.0 \
    TWOSTEP_PORT=8000 \
    TWOSTEP_DATA_DIR=/var/lib/twostep \
    TWOSTEP_VENV=/opt/twostep/venv \
    PATH=/opt/twostep/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1
USER twostep
WORKDIR /var/lib/twostep
VOLUME ["/var/lib/twostep"]
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/readyz' % os.environ.get('TWOSTEP_PORT', '8000'), timeout=2)"]
ENTRYPOINT ["sh", "/opt/twostep/container-start.sh"]
CMD ["serve"]

# One image for the user-code server, the webserver and the daemon.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PIP_NO_CACHE_DIR=1 \
    DAGSTER_HOME=/opt/dagster/home CS_PLATFORM_ENV=prod
WORKDIR /opt/cs_platform

COPY pyproject.toml README.md ./
COPY cs_platform ./cs_platform
COPY dbt ./dbt
RUN pip install .

# Prepare the dbt manifest at build time (DESIGN: never parse dbt on import).
RUN python -m cs_platform.models

COPY deploy/dagster.prod.yaml ${DAGSTER_HOME}/dagster.yaml
COPY deploy/workspace.prod.yaml ${DAGSTER_HOME}/workspace.yaml

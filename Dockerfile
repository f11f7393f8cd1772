# One image for the user-code server, the webserver and the daemon.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PIP_NO_CACHE_DIR=1 \
    DAGSTER_HOME=/opt/dagster/home CS_PLATFORM_ENV=prod \
    DBT_EXECUTABLE=/opt/dbt/bin/cs-dbt
WORKDIR /opt/cs_platform

# dbt in its own environment, so that loading the code location does not import
# dbt-core (cs_platform.settings.dbt_executable); run as `cs-dbt`, dbt's entry point
# with the garbage collector tuned (dbt/launcher.py), as `make install` does.
COPY dbt/requirements.txt dbt/launcher.py /tmp/dbt-env/
RUN python -m venv /opt/dbt && /opt/dbt/bin/pip install -r /tmp/dbt-env/requirements.txt \
    && { echo '#!/opt/dbt/bin/python'; cat /tmp/dbt-env/launcher.py; } > /opt/dbt/bin/cs-dbt \
    && chmod +x /opt/dbt/bin/cs-dbt

COPY pyproject.toml README.md ./
COPY cs_platform ./cs_platform
COPY dbt ./dbt
RUN pip install .

# Prepare the dbt manifest at build time (dbt is never parsed when the code location
# loads: it would slow every load); this also checks the project parses.
# docker-compose's user_code service prepares it again on start, with the
# deployment's settings, so that runs reuse that parse.
RUN python -m cs_platform.models

COPY deploy/dagster.prod.yaml ${DAGSTER_HOME}/dagster.yaml
COPY deploy/workspace.prod.yaml ${DAGSTER_HOME}/workspace.yaml

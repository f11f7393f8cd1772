"""The reverse-ETL syncs declared in `cs_platform/activation/syncs.yaml`."""

from cs_platform.activation import load_definitions

defs = load_definitions()

"""`python -m cs_platform.models`: prepare the dbt manifest (dbt parse into dbt/target)."""

from cs_platform.models.project import prepare

if __name__ == "__main__":
    prepare()

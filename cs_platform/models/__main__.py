"""`python -m cs_platform.models`: prepare the dbt manifest (dbt parse into dbt/target)."""

from cs_platform.models.project import dbt_project, prepare

if __name__ == "__main__":
    prepare()
    print(f"dbt manifest ready: {dbt_project.manifest_path}")

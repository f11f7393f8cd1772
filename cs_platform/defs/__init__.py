"""Everything the code location loads, one folder per stage of the data flow
(`dg.load_from_defs_folder`, see `cs_platform.definitions`):

    sources/     raw/<tool>/<object>: one module per tool (assets, jobs, schedules, sensors)
    models/      the dbt project: every model and seed an asset, every test a check
    activation/  sync/<destination>/<name>: the reverse-ETL syncs (SyncComponent instances)
    alerts/      Slack alerts: failed runs, stale assets, failed checks

Only definitions live here; the machinery they are built from is in the stage's
package beside this one (`cs_platform.sources`, `.models`, `.activation`).
"""

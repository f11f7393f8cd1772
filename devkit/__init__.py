"""cs_platform's development kit, kept out of the production package:

    sandbox/             local emulators of the SaaS APIs (python -m devkit.sandbox)
    sample_data/         a deterministic customer base for every tool (python -m devkit.sample_data)
    demo.py              `make demo`: generate, serve, materialize everything, show the UI
    sample_warehouse.py  raw tables straight from a sample data set, for dbt tests and benchmarks
"""

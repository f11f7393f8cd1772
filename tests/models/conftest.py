import pytest

from tests.models.support import BuiltWarehouse, build_warehouse


@pytest.fixture(scope="session")
def built(tmp_path_factory, worker_id) -> BuiltWarehouse:
    # Under pytest-xdist every worker has its own basetemp; their common parent is
    # shared, so the warehouse is built once for the whole run.
    base = tmp_path_factory.getbasetemp()
    root = (base.parent if worker_id != "master" else base) / "dbt_models_warehouse"
    return build_warehouse(root)

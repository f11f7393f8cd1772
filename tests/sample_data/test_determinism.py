import datetime as dt
import hashlib

from cs_platform.sample_data import generate
from tests.sample_data.conftest import out_files

ARGS = dict(accounts=50, days=42, as_of=dt.date(2026, 11, 22))


def _hashes(out) -> dict[str, str]:
    return {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest() for p in out_files(out)}


def test_same_arguments_give_byte_identical_files(tmp_path):
    generate(tmp_path / "a", seed=11, **ARGS)
    generate(tmp_path / "b", seed=11, **ARGS)
    first, second = _hashes(tmp_path / "a"), _hashes(tmp_path / "b")
    assert "product.db" in first and "manifest.json" in first
    assert first == second


def test_another_seed_gives_other_data(tmp_path):
    generate(tmp_path / "a", seed=11, **ARGS)
    generate(tmp_path / "b", seed=12, **ARGS)
    first, second = _hashes(tmp_path / "a"), _hashes(tmp_path / "b")
    assert first.keys() == second.keys()
    differing = {name for name in first if first[name] != second[name]}
    assert {"product.db", "salesforce/Account.jsonl", "ground_truth.json"} <= differing


def test_rerun_into_the_same_folder_replaces_the_output(tmp_path):
    generate(tmp_path / "a", seed=11, **ARGS)
    generate(tmp_path / "b", seed=11, **{**ARGS, "as_of": dt.date(2026, 12, 24)})
    generate(tmp_path / "b", seed=11, **ARGS)  # other weekly KARTE file names must not survive
    assert _hashes(tmp_path / "a") == _hashes(tmp_path / "b")

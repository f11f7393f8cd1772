import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "devkit.sample_data", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def test_cli_writes_a_data_set(tmp_path):
    result = _run("--out", str(tmp_path), "--accounts", "50", "--seed", "3", "--days", "42",
                  "--as-of", "2026-11-22")
    assert result.returncode == 0, result.stderr
    args = json.loads((tmp_path / "manifest.json").read_text())["args"]
    assert (args["accounts"], args["seed"], args["days"], args["as_of"]) == (50, 3, 42, "2026-11-22")
    assert "50 accounts" in result.stdout


def test_cli_rejects_too_few_accounts(tmp_path):
    result = _run("--out", str(tmp_path), "--accounts", "10")
    assert result.returncode == 2
    assert "accounts must be at least 50" in result.stderr

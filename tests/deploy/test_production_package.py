"""The production package is only the product: its wheel holds no sandbox, sample-data
generator or demo, its dependencies are the product's own, the image copies no
development kit, and the code location loads where the development kit and its
libraries cannot be imported."""

import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# orjson is not here: dagster-dbt requires it, so production has it either way; the
# product neither declares nor imports it (test_no_product_module_imports_a_development_library).
DEV_ONLY = ("devkit", "trustme")
# numpy is not among them: the report pages compute on numpy arrays, and pandas needs it anyway.
DEV_LIBRARIES = ("devkit", "trustme", "orjson")


def build_wheel(out: Path) -> Path:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                    "-w", str(out), str(ROOT)], check=True, capture_output=True)
    return next(out.glob("cs_platform-*.whl"))


def test_the_wheel_holds_only_the_product_and_requires_only_its_libraries(tmp_path):
    wheel = build_wheel(tmp_path)
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = Parser().parsestr(archive.read(next(n for n in names if n.endswith("METADATA"))).decode())
    packages = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert packages == {"cs_platform"}, packages
    assert not [n for n in names if any(part in n for part in ("sandbox", "sample_data", "demo.py"))]
    # ...and every component instance of the defs folder (a folder without __init__.py).
    shipped = {str(p.relative_to(ROOT)) for p in (ROOT / "cs_platform").rglob("defs.yaml")}
    assert shipped and shipped <= set(names), shipped - set(names)
    # ...and the report pages' templates and stylesheet (read as package resources).
    templates = {str(p.relative_to(ROOT)) for p in (ROOT / "cs_platform" / "reports" / "templates").iterdir()}
    assert templates and templates <= set(names), templates - set(names)
    required = [r for r in metadata.get_all("Requires-Dist") if "extra ==" not in r]
    names_required = {r.split("==")[0].split(" ")[0].lower() for r in required}
    assert not names_required & {"trustme", "orjson", "tenacity", "dagster-duckdb", "pytest"}, required


def test_the_image_copies_no_development_kit():
    dockerfile = (ROOT / "Dockerfile").read_text()
    copies = [line for line in dockerfile.splitlines() if line.startswith("COPY")]
    assert copies and not [c for c in copies if "devkit" in c or c.split()[1] == "."], copies
    assert "pip install ." in dockerfile and "[dev]" not in dockerfile


def test_the_code_location_loads_without_the_development_kit():
    """Whatever is installed here, production code never imports the development kit
    or its libraries: block them and load every definition."""
    blocker = (
        "import sys, importlib.abc\n"
        f"BLOCKED = {DEV_ONLY!r}\n"
        "class Block(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path, target=None):\n"
        "        if name.split('.')[0] in BLOCKED:\n"
        "            raise ImportError(f'{name} is development-only')\n"
        "sys.meta_path.insert(0, Block())\n"
        "from cs_platform.definitions import defs\n"
        "d = defs()\n"
        "print(len(list(d.resolve_asset_graph().get_all_asset_keys())))\n"
    )
    proc = subprocess.run([sys.executable, "-c", blocker], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert int(proc.stdout.strip().splitlines()[-1]) > 50


def test_no_product_module_imports_a_development_library():
    import re

    pattern = re.compile(rf"^\s*(import|from)\s+({'|'.join(DEV_LIBRARIES)})\b", re.MULTILINE)
    offenders = [str(p.relative_to(ROOT)) for p in (ROOT / "cs_platform").rglob("*.py")
                 if pattern.search(p.read_text())]
    assert offenders == []

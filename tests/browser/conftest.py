"""Browser tests of the dashboard: headless Chromium + chromedriver (Debian ``chromium``,
``chromium-driver``; ``make test`` installs them) driven by ``dash[testing]``'s ``dash_duo``.

Run directories are made once per session with the CLI (small runs: Helsinki, Coquimbo 24 h, a 300-unit
Coquimbo day, three Helsinki replications as a set)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from browser.runs import cli_run, ensure_map_files

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "docs" / "screenshots"


def pytest_configure(config: pytest.Config) -> None:
    """Always headless (there is no display)."""
    if hasattr(config.option, "headless"):
        config.option.headless = True


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip the browser tests (with the reason) only where Chromium or its driver cannot be found."""
    missing = [name for name in ("chromium", "chromedriver") if shutil.which(name) is None]
    if not missing:
        return
    marker = pytest.mark.skip(reason=f"{', '.join(missing)} not installed (make test installs them: apt-get install "
                                     "chromium chromium-driver)")  # fmt: skip
    for item in items:
        if "tests/browser" in str(item.fspath):
            item.add_marker(marker)


@pytest.fixture(scope="session")
def run_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Real run directories, made once: ``coquimbo`` (default city, 24 h), ``helsinki``, ``big`` (300
    units, 24 h), ``reps`` (a set of 3 Helsinki replications), ``bad`` (not a run directory) and
    ``corrupt`` (a run whose incidents.parquet is garbage)."""
    root = tmp_path_factory.mktemp("dash_runs")
    runs = {
        "coquimbo": cli_run("coquimbo", root / "coquimbo"),
        "helsinki": cli_run("helsinki", root / "helsinki"),
        "big": cli_run(
            "coquimbo", root / "big300", "units.count=300", "demand.rate_per_hour=60", "name=coquimbo-300"
        ),
    }
    reps = root / "helsinki-reps"
    reps.mkdir()
    for seed in (1, 2, 3):
        cli_run("helsinki", reps / f"seed{seed}", f"seed={seed}")
    for path in (runs["coquimbo"], runs["helsinki"], runs["big"]):
        ensure_map_files(path)
    runs["reps"] = reps
    bad = root / "not-a-run"
    bad.mkdir()
    (bad / "notes.txt").write_text("hello", encoding="utf-8")
    runs["bad"] = bad
    corrupt = root / "corrupt"
    shutil.copytree(runs["helsinki"], corrupt)
    (corrupt / "incidents.parquet").write_bytes(b"this is not parquet")
    summary = json.loads((corrupt / "summary.json").read_text(encoding="utf-8"))
    summary["scenario_name"] = "corrupt-copy"
    (corrupt / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    runs["corrupt"] = corrupt
    runs["new"] = root / "new-runs"
    return runs


@pytest.fixture(scope="session")
def screenshots() -> Path:
    """Where page screenshots go (docs/screenshots, linked from the README)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS

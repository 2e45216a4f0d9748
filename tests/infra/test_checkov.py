"""checkov passes on the Bicep and the ARM templates, and every skipped check is named and justified.

checkov lives in its own virtual environment (.venv-tools, installed by `make deps`) because its dependency tree
conflicts with the pipeline's pins. A missing checkov fails these tests: the static checks are part of the suite.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections import Counter
from functools import cache
from typing import Any

import pytest

from tests.infra.templates import INFRA, REPO, arm_skips, bicep_skips

CHECKOV = REPO / ".venv-tools" / "bin" / "checkov"
CHECK_ID = r"CKV2?_AZURE_\d+"
MIN_JUSTIFICATION = 40  # characters: a reason, not a placeholder


@cache
def checkov(framework: str) -> dict[str, Any]:
    if not CHECKOV.exists():
        pytest.fail(
            f"checkov is not installed at {CHECKOV.relative_to(REPO)}: run `make deps`, which installs it"
        )
    # --skip-download: no calls to the vendor's platform (this machine has no internet); the checks ship with
    # the package. The environment variables keep checkov from looking for updates.
    env = dict(os.environ, BC_SKIP_MAPPING="TRUE", CHECKOV_SKIP_UPDATE_CHECK="TRUE")
    result = subprocess.run(
        [
            str(CHECKOV),
            "--directory",
            str(INFRA),
            "--framework",
            framework,
            "--skip-download",
            "--output",
            "json",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    if not result.stdout.strip():
        pytest.fail(f"checkov produced no report (exit {result.returncode}): {result.stderr[-2000:]}")
    report = json.loads(result.stdout)
    reports = report if isinstance(report, list) else [report]
    (own,) = [r for r in reports if r.get("check_type") == framework]
    return own


def describe(records: list[dict[str, Any]]) -> str:
    return "\n".join(f"{r['check_id']} {r['resource']} {r['file_path']}: {r['check_name']}" for r in records)


@pytest.mark.parametrize("framework", ["bicep", "arm"])
def test_checkov_reports_no_failed_check(framework):
    report = checkov(framework)
    summary = report["summary"]
    print(
        f"checkov {framework}: {summary['passed']} passed, {summary['failed']} failed, {summary['skipped']} skipped"
    )
    assert summary["parsing_errors"] == 0, f"checkov could not parse a {framework} file"
    assert summary["passed"] > 0
    assert summary["failed"] == 0, describe(report["results"]["failed_checks"])


def test_checkov_scanned_both_entry_points():
    bicep_files = {r["file_path"] for r in checkov("bicep")["results"]["passed_checks"]}
    arm_files = {r["file_path"] for r in checkov("arm")["results"]["passed_checks"]}
    assert "/modules/functionapp.bicep" in bicep_files and "/modules/storage.bicep" in bicep_files
    assert "/azuredeploy.json" in arm_files


def test_every_bicep_skip_names_a_check_and_a_reason():
    skips = bicep_skips()
    assert skips
    for path, line, check_id, justification in skips:
        where = f"{path.relative_to(INFRA)}:{line}"
        assert re.fullmatch(CHECK_ID, check_id), f"{where}: {check_id!r} is not a checkov check id"
        assert len(justification) >= MIN_JUSTIFICATION, f"{where}: {check_id} needs a justification"


def test_every_arm_skip_names_a_check_and_a_reason():
    skips = arm_skips()
    assert skips
    for path, resource_type, check_id, justification in skips:
        where = f"{path.relative_to(INFRA)} {resource_type}"
        assert re.fullmatch(CHECK_ID, check_id), f"{where}: {check_id!r} is not a checkov check id"
        assert len(justification) >= MIN_JUSTIFICATION, f"{where}: {check_id} needs a justification"


@pytest.mark.parametrize("framework", ["bicep", "arm"])
def test_every_skip_is_used(framework):
    """A skip that checkov does not report would be a stale exception hiding nothing, or a typo."""
    declared = Counter(skip[2] for skip in (bicep_skips() if framework == "bicep" else arm_skips()))
    reported = Counter(r["check_id"] for r in checkov(framework)["results"]["skipped_checks"])
    assert declared == reported

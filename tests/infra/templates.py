"""Reading the deployment templates for the tests: Bicep through pycep-parser, ARM as JSON.

No Bicep compiler runs here, so the Bicep side is read from its parse tree: main.bicep, the modules it uses
(recursively; a JSON module is read as ARM), and blob-events.bicep. The ARM side is the flat, hand-maintained
azuredeploy.json and blob-events.json.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

from pycep import BicepParser

REPO = Path(__file__).resolve().parents[2]
INFRA = REPO / "infra"
MAIN_BICEP = INFRA / "main.bicep"
MAIN_ARM = INFRA / "azuredeploy.json"
EVENTS_BICEP = INFRA / "blob-events.bicep"
EVENTS_ARM = INFRA / "blob-events.json"

BICEP_SKIP = re.compile(r"//\s*checkov:skip=([^:\s]*)(?::(.*))?")


@cache
def parse_bicep(path: Path) -> dict[str, Any]:
    return BicepParser().parse(file_path=path)


@cache
def load_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def bicep_template_files(entry: Path) -> list[Path]:
    """``entry`` and every module it uses, depth first, each once."""
    seen: list[Path] = []

    def visit(path: Path) -> None:
        if path in seen:
            return
        seen.append(path)
        if path.suffix == ".bicep":
            for module in parse_bicep(path).get("modules", {}).values():
                visit((path.parent / module["detail"]["path"]).resolve())

    visit(entry.resolve())
    return seen


def arm_resources(resources: list[dict[str, Any]], parent_type: str = "") -> Iterator[dict[str, Any]]:
    """Every resource of an ARM template, nested child resources with their full type."""
    for resource in resources:
        full_type = resource["type"] if "/" in resource["type"] else f"{parent_type}/{resource['type']}"
        yield {**resource, "type": full_type}
        yield from arm_resources(resource.get("resources", []), full_type)


def resource_api_versions(entry: Path) -> dict[str, set[str]]:
    """Resource type → API versions of the resources a template deploys (``existing`` ones excluded)."""
    found: dict[str, set[str]] = {}
    for path in bicep_template_files(entry) if entry.suffix == ".bicep" else [entry]:
        if path.suffix == ".json":
            for resource in arm_resources(load_json(path)["resources"]):
                found.setdefault(resource["type"], set()).add(resource["apiVersion"])
            continue
        for resource in parse_bicep(path).get("resources", {}).values():
            if not resource["existing"]:
                found.setdefault(resource["type"], set()).add(resource["api_version"])
    return found


def bicep_variable(path: Path, name: str) -> Any:
    return parse_bicep(path)["variables"][name]["value"]


def bicep_string_as_arm(value: str) -> str:
    """A Bicep string as ARM writes it: 'a${x}b' becomes "[format('a{0}b', x)]"; a plain string stays."""
    parts = re.split(r"\$\{([^}]*)\}", value)
    literals, expressions = parts[0::2], parts[1::2]
    if not expressions:
        return value
    pattern = "".join(f"{literal}{{{i}}}" for i, literal in enumerate(literals[:-1])) + literals[-1]
    return f"[format('{pattern}', {', '.join(expressions)})]"


def setting_names(value: Any) -> list[str]:
    """Names of the ``{name, value}`` app-setting objects anywhere in a parsed value."""
    if isinstance(value, dict):
        own = [value["name"]] if set(value) == {"name", "value"} and isinstance(value["name"], str) else []
        return own + [name for item in value.values() for name in setting_names(item)]
    if isinstance(value, list):
        return [name for item in value for name in setting_names(item)]
    return []


def bicep_skips() -> list[tuple[Path, int, str, str]]:
    """(file, line, check id, justification) of every checkov skip comment in the Bicep files."""
    skips = []
    for path in sorted(INFRA.rglob("*.bicep")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            match = BICEP_SKIP.search(line)
            if match:
                skips.append((path, number, match.group(1), (match.group(2) or "").strip()))
    return skips


def arm_skips() -> list[tuple[Path, str, str, str]]:
    """(file, resource type, check id, justification) of every metadata.checkov entry in the ARM files."""
    skips = []
    for path in sorted(INFRA.rglob("*.json")):
        document = load_json(path)
        if "resources" not in document:
            continue
        for resource in arm_resources(document["resources"]):
            for entry in resource.get("metadata", {}).get("checkov", []):
                check_id, _, justification = entry.partition(":")
                skips.append((path, resource["type"], check_id.strip(), justification.strip()))
    return skips

"""The Bicep and ARM templates declare the same deployment, and that deployment matches the code."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from pipeline.routing import poison_queue_name, queue_name, validate_pipeline
from pipeline.settings import APP_SETTINGS, STORAGE_CONNECTION
from pipeline.storage import PIPELINE_CONTAINERS
from steps import REGISTERED_STEPS, STEPS_BY_NAME
from tests.infra.templates import (
    EVENTS_ARM,
    EVENTS_BICEP,
    INFRA,
    MAIN_ARM,
    MAIN_BICEP,
    arm_resources,
    bicep_template_files,
    bicep_variable,
    load_json,
    parse_bicep,
    resource_api_versions,
    setting_names,
)

FUNCTION_APP_BICEP = INFRA / "modules" / "functionapp.bicep"
STORAGE_BICEP = INFRA / "modules" / "storage.bicep"
ROLES_BICEP = INFRA / "modules" / "roles.bicep"

# Settings the templates set for the platform, not for the pipeline's code.
PLATFORM_SETTINGS = {
    "APPLICATIONINSIGHTS_CONNECTION_STRING",  # where the Functions host sends telemetry
    "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",  # ... signed in with the app's identity (local auth is off)
    "FUNCTIONS_EXTENSION_VERSION",  # Elastic Premium only: Functions runtime 4.x
    "FUNCTIONS_WORKER_RUNTIME",  # Elastic Premium only: the Python worker
    "WEBSITE_RUN_FROM_PACKAGE",  # Elastic Premium only: the package blob, fetched with the identity
}
ELASTIC_PREMIUM_ONLY = {"FUNCTIONS_EXTENSION_VERSION", "FUNCTIONS_WORKER_RUNTIME", "WEBSITE_RUN_FROM_PACKAGE"}

# Identity-based AzureWebJobsStorage (Storage.from_settings and the Functions host): service URIs and the
# credential kind; a system-assigned identity needs no clientId. A plain AzureWebJobsStorage would be a key.
STORAGE_IDENTITY_SETTINGS = {
    f"{STORAGE_CONNECTION}__{key}" for key in ("blobServiceUri", "queueServiceUri", "credential")
}

# Roles that would give the app more than data access to its own resources.
BROAD_ROLES = {
    "8e3af657-a8ff-443c-a75c-2fe8c4bcb635",  # Owner
    "b24988ac-6180-42a0-ab88-20f7382dd24c",  # Contributor
    "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9",  # User Access Administrator
    "17d1049b-9a84-46fb-8f53-869881c3d3ab",  # Storage Account Contributor (can list keys)
    "25fbc0a9-bd7c-42a3-aa1a-3b75d497ee68",  # Cognitive Services Contributor (can list keys)
    "00482a5a-887f-4fb3-b363-3b7fe8e74483",  # Key Vault Administrator
}


# -- helpers -------------------------------------------------------------------------------------------


def arm_variable(name: str, path: Path = MAIN_ARM) -> Any:
    return load_json(path)["variables"][name]


def arm_site() -> dict[str, Any]:
    (site,) = [
        r for r in arm_resources(load_json(MAIN_ARM)["resources"]) if r["type"] == "Microsoft.Web/sites"
    ]
    return site


def arm_inline_settings() -> list[str]:
    """Settings the ARM site adds inline (values that need reference(), which ARM variables cannot call)."""
    expression = arm_site()["properties"]["siteConfig"]["appSettings"]
    return re.findall(r"createObject\('name', '([^']+)'", expression)


def template_settings() -> dict[str, dict[str, set[str]]]:
    """Per template: the pipeline's settings, its key settings (visionAuth=key only), the platform's, and the
    Elastic Premium-only ones."""
    bicep = {
        group: set(setting_names(bicep_variable(FUNCTION_APP_BICEP, f"{group}AppSettings")))
        for group in ("pipeline", "visionKey", "platform", "elasticPremium")
    }
    arm = {
        group: set(setting_names(arm_variable(f"{group}AppSettings")))
        for group in ("pipeline", "visionKey", "elasticPremium")
    }
    arm["platform"] = set(setting_names(arm_variable("platformAppSettings"))) | set(arm_inline_settings())
    return {"bicep": bicep, "arm": arm}


def code_name(setting: str) -> str:
    """The APP_SETTINGS entry an app setting configures (identity-based storage keys → AzureWebJobsStorage)."""
    return STORAGE_CONNECTION if setting.startswith(STORAGE_CONNECTION + "__") else setting


def bicep_parameters(path: Path) -> dict[str, dict[str, Any]]:
    """name → {type, default (literal or None), allowed, limits} of a Bicep file's parameters."""
    found = {}
    for name, parameter in parse_bicep(path)["parameters"].items():
        decorators = {d["type"]: d["argument"] for d in parameter["decorators"]}
        default = parameter["default"]
        found[name] = {
            "type": parameter["type"],
            "required": default is None,
            "default": default if isinstance(default, str | int | list) else None,
            "allowed": decorators.get("allowed"),
            "limits": tuple(
                decorators.get(k) for k in ("min_length", "max_length", "min_value", "max_value")
            ),
        }
    return found


def arm_parameters(path: Path) -> dict[str, dict[str, Any]]:
    found = {}
    for name, parameter in load_json(path)["parameters"].items():
        default = parameter.get("defaultValue")
        is_expression = isinstance(default, str) and default.startswith("[")
        found[name] = {
            "type": parameter["type"],
            "required": "defaultValue" not in parameter,
            "default": None if is_expression else default,
            "allowed": parameter.get("allowedValues"),
            "limits": tuple(parameter.get(k) for k in ("minLength", "maxLength", "minValue", "maxValue")),
        }
    return found


# -- Bicep and ARM agree ---------------------------------------------------------------------------------


def test_every_bicep_file_parses():
    files = sorted(INFRA.rglob("*.bicep"))
    assert MAIN_BICEP in files and EVENTS_BICEP in files
    for path in files:
        assert parse_bicep(path).get("resources") or parse_bicep(path).get("modules"), path


def test_main_bicep_uses_every_module():
    used = set(bicep_template_files(MAIN_BICEP))
    modules = {p.resolve() for p in (INFRA / "modules").iterdir() if p.suffix in (".bicep", ".json")}
    assert modules <= used, f"modules no template uses: {sorted(modules - used)}"


@pytest.mark.parametrize(("bicep", "arm"), [(MAIN_BICEP, MAIN_ARM), (EVENTS_BICEP, EVENTS_ARM)])
def test_same_resources_and_api_versions(bicep, arm):
    assert resource_api_versions(bicep) == resource_api_versions(arm)


def test_one_api_version_per_resource_type():
    for entry in (MAIN_BICEP, EVENTS_BICEP):
        for resource_type, versions in resource_api_versions(entry).items():
            assert len(versions) == 1, f"{resource_type} uses API versions {sorted(versions)}"


@pytest.mark.parametrize(("bicep", "arm"), [(MAIN_BICEP, MAIN_ARM), (EVENTS_BICEP, EVENTS_ARM)])
def test_same_parameters(bicep, arm):
    assert bicep_parameters(bicep) == arm_parameters(arm)


@pytest.mark.parametrize(("bicep", "arm"), [(MAIN_BICEP, MAIN_ARM), (EVENTS_BICEP, EVENTS_ARM)])
def test_same_outputs(bicep, arm):
    assert list(parse_bicep(bicep)["outputs"]) == list(load_json(arm)["outputs"])


def test_same_settings_in_both_templates():
    settings = template_settings()
    assert settings["bicep"] == settings["arm"]


def test_same_steps_containers_and_roles_in_both_templates():
    for name in (
        "pipelineStepNames",
        "pipelineContainers",
        "deploymentContainer",
        "sqlDatabaseName",
        "faceListId",
    ):
        assert bicep_variable(MAIN_BICEP, name) == arm_variable(name), name
    assert bicep_variable(ROLES_BICEP, "roles") == arm_variable("roles")


def test_parameter_files_match_their_templates():
    main = load_json(INFRA / "main.parameters.json")
    button = load_json(INFRA / "azuredeploy.parameters.json")
    assert main == button
    assert set(main["parameters"]) <= set(bicep_parameters(MAIN_BICEP))
    for name, entry in main["parameters"].items():
        parameter = bicep_parameters(MAIN_BICEP)[name]
        if parameter["allowed"]:
            assert entry["value"] in parameter["allowed"], name


# -- the templates match the code --------------------------------------------------------------------------


def test_app_settings_are_exactly_what_the_code_reads():
    settings = template_settings()["bicep"]
    assert settings["platform"] | settings["elasticPremium"] <= PLATFORM_SETTINGS
    assert not (settings["pipeline"] | settings["visionKey"]) & PLATFORM_SETTINGS
    read_by_code = set(APP_SETTINGS)
    set_for_code = {code_name(name) for name in settings["pipeline"] | settings["visionKey"]}
    assert set_for_code == read_by_code, (
        f"missing in the templates: {sorted(read_by_code - set_for_code)}; "
        f"set but not read by the code: {sorted(set_for_code - read_by_code)}"
    )


def test_storage_connection_is_identity_based():
    pipeline = template_settings()["bicep"]["pipeline"]
    storage = {name for name in pipeline if code_name(name) == STORAGE_CONNECTION}
    assert storage == STORAGE_IDENTITY_SETTINGS
    for settings in (
        bicep_variable(FUNCTION_APP_BICEP, "pipelineAppSettings"),
        arm_variable("pipelineAppSettings"),
    ):
        values = {s["name"]: s["value"] for s in settings}
        assert values[f"{STORAGE_CONNECTION}__credential"] == "managedidentity"


def test_elastic_premium_settings_are_not_sent_to_flex_consumption():
    settings = template_settings()["bicep"]
    assert settings["elasticPremium"] == ELASTIC_PREMIUM_ONLY
    flex = bicep_variable(FUNCTION_APP_BICEP, "flexAppSettings")
    assert "elasticPremiumAppSettings" not in str(flex)
    assert "if(variables('isFlex'), createArray(), variables('elasticPremiumAppSettings'))" in str(
        arm_site()["properties"]["siteConfig"]["appSettings"]
    )


@pytest.mark.parametrize(
    ("settings", "keys"),
    [
        (
            bicep_variable(FUNCTION_APP_BICEP, "pipelineAppSettings"),
            bicep_variable(FUNCTION_APP_BICEP, "visionKeyAppSettings"),
        ),
        (arm_variable("pipelineAppSettings"), arm_variable("visionKeyAppSettings")),
    ],
    ids=["bicep", "arm"],
)
def test_secret_settings_are_key_vault_references(settings, keys):
    key_values = {s["name"]: s["value"] for s in keys}
    assert set(key_values) == {"VISION_KEY", "FACE_KEY"}
    for name, value in key_values.items():
        assert "@Microsoft.KeyVault(SecretUri=" in value, name
    sql = {s["name"]: s["value"] for s in settings}["SQL_CONNECTION_STRING"]
    assert "ODBC Driver 18 for SQL Server" in sql and "Authentication=ActiveDirectoryMsi" in sql
    assert not re.search(r"(?i)\b(pwd|password)\s*=", sql)


def test_default_step_list_is_valid_for_the_code():
    """The template's default must start on the code as it is; it may lag the code's own default."""
    default = bicep_parameters(MAIN_BICEP)["pipelineSteps"]["default"]
    steps = default.split(",")
    validate_pipeline(steps, STEPS_BY_NAME)
    assert set(steps) <= set(bicep_variable(MAIN_BICEP, "pipelineStepNames"))
    assert load_json(INFRA / "main.parameters.json")["parameters"]["pipelineSteps"]["value"] == default


def test_every_registered_step_has_its_queues():
    steps = bicep_variable(MAIN_BICEP, "pipelineStepNames")
    assert len(steps) == len(set(steps))
    assert {step.name for step in REGISTERED_STEPS} <= set(steps)
    storage = parse_bicep(STORAGE_BICEP)["resources"]
    bicep_patterns = {storage[name]["config"]["config"]["name"] for name in ("stepQueues", "poisonQueues")}
    arm_patterns = {
        r["name"]
        for r in arm_resources(load_json(MAIN_ARM)["resources"])
        if r["type"] == "Microsoft.Storage/storageAccounts/queueServices/queues"
    }
    for step in {s.name for s in REGISTERED_STEPS}:
        expected = {queue_name(step), poison_queue_name(queue_name(step))}
        assert {p.replace("${step}", step) for p in bicep_patterns} == expected
        rendered = {
            p.replace("[format('{0}/default/", "").replace("', variables('names').storage, ", "|")
            for p in arm_patterns
        }
        assert {p.split("|")[0].replace("{1}", step) for p in rendered} == expected
        assert all(p.endswith("|variables('pipelineStepNames')[copyIndex()])]") for p in rendered)


def test_containers_are_the_pipelines_plus_the_deployment_container():
    assert tuple(bicep_variable(MAIN_BICEP, "pipelineContainers")) == PIPELINE_CONTAINERS
    deployment = bicep_variable(MAIN_BICEP, "deploymentContainer")
    assert deployment not in PIPELINE_CONTAINERS
    storage = parse_bicep(STORAGE_BICEP)["resources"]["containers"]["config"]
    assert storage["config"]["properties"] == {"publicAccess": "None"}
    assert arm_variable("allContainers") == (
        "[concat(variables('pipelineContainers'), createArray(variables('deploymentContainer')))]"
    )
    flex = bicep_variable(FUNCTION_APP_BICEP, "flexFunctionAppConfig")
    assert flex["deployment"]["storage"]["value"] == "${blobEndpoint}${deploymentContainer}"


# -- secure defaults ---------------------------------------------------------------------------------------


def test_storage_account_is_private_and_keyless():
    bicep = parse_bicep(STORAGE_BICEP)["resources"]["storage"]["config"]["properties"]
    (arm,) = [
        r["properties"]
        for r in arm_resources(load_json(MAIN_ARM)["resources"])
        if r["type"] == "Microsoft.Storage/storageAccounts"
    ]
    for properties in (bicep, arm):
        assert properties["allowBlobPublicAccess"] is False
        assert properties["allowSharedKeyAccess"] is False
        assert properties["minimumTlsVersion"] == "TLS1_2"
        assert properties["supportsHttpsTrafficOnly"] is True


def test_sql_server_accepts_entra_only():
    bicep = parse_bicep(INFRA / "modules" / "sql.bicep")["resources"]["server"]["config"]["properties"]
    (arm,) = [
        r["properties"]
        for r in arm_resources(load_json(MAIN_ARM)["resources"])
        if r["type"] == "Microsoft.Sql/servers"
    ]
    for properties in (bicep, arm):
        assert properties["administrators"]["azureADOnlyAuthentication"] is True
        assert "administratorLogin" not in properties and "administratorLoginPassword" not in properties
        assert properties["minimalTlsVersion"] == "1.2"


def test_roles_are_data_roles_only():
    roles = set(bicep_variable(ROLES_BICEP, "roles").values())
    assert roles and not roles & BROAD_ROLES


# Names that would carry a secret value (secretExpiry, a date, does not).
SECRET_NAME = re.compile(r"(?i)password|connectionstring|token|sas$|key$|secret$")


def test_no_secret_in_parameters_or_outputs():
    for path in (MAIN_ARM, EVENTS_ARM):
        document = load_json(path)
        for name, parameter in document["parameters"].items():
            assert parameter["type"] not in ("securestring", "secureObject"), name
            assert not SECRET_NAME.search(name), name
        for name, output in document["outputs"].items():
            assert not SECRET_NAME.search(name), name
            assert "listKeys" not in str(output["value"]), name
    for path in (MAIN_BICEP, EVENTS_BICEP):
        for name in parse_bicep(path)["outputs"]:
            assert not SECRET_NAME.search(name), name


def without_metadata(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: without_metadata(v) for k, v in value.items() if k != "metadata"}
    if isinstance(value, list):
        return [without_metadata(v) for v in value]
    return value


def test_keys_are_read_only_where_they_are_written():
    """listKeys() appears only where a key goes straight into Key Vault or Event Grid."""
    uses = {}
    for path in sorted(INFRA.rglob("*.bicep")):
        code = re.sub(r"//[^\n]*", "", path.read_text(encoding="utf-8"))
        uses[path.relative_to(INFRA).as_posix()] = code.count("listKeys(")
    for path in sorted(INFRA.rglob("*.json")):
        uses[path.relative_to(INFRA).as_posix()] = str(without_metadata(load_json(path))).count("listKeys(")
    assert {name: count for name, count in uses.items() if count} == {
        "modules/visionkeys.bicep": 2,
        "blob-events.bicep": 1,
        "azuredeploy.json": 2,
        "blob-events.json": 1,
    }


def test_no_hard_coded_region():
    assert (
        bicep_parameters(MAIN_BICEP)["location"]["default"] is None
    )  # an expression: resourceGroup().location
    assert load_json(MAIN_ARM)["parameters"]["location"]["defaultValue"] == "[resourceGroup().location]"
    region = re.compile(
        r"'(?:east|west|north|south|central)[a-z]*\d?'|\"(?:east|west|north|south|central)[a-z]*\d?\""
    )
    for path in sorted(INFRA.rglob("*.bicep")) + sorted(INFRA.rglob("*.json")):
        assert not region.search(path.read_text(encoding="utf-8")), path

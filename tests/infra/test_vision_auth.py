"""Keyless vision by default: both Cognitive Services accounts refuse keys (disableLocalAuth), the app's
identity holds Cognitive Services User on each, and no key exists in settings or Key Vault; keys are the
explicit opt-in visionAuth=key, which brings back today's Key Vault references."""

from __future__ import annotations

from typing import Any

import pytest

from tests.infra.templates import INFRA, MAIN_ARM, MAIN_BICEP, arm_resources, load_json, parse_bicep
from tests.infra.test_templates import arm_parameters, arm_site, arm_variable, bicep_parameters

COGNITIVE_BICEP = INFRA / "modules" / "cognitive.bicep"
KEYS_BICEP = INFRA / "modules" / "visionkeys.bicep"
FUNCTION_APP_BICEP = INFRA / "modules" / "functionapp.bicep"
ROLES_BICEP = INFRA / "modules" / "roles.bicep"
COGNITIVE_SERVICES_USER = "a97b65f3-24c7-4388-baec-2e87135dc908"
KEY_SETTINGS = {"VISION_KEY", "FACE_KEY"}


def evaluate(expression: Any, names: dict[str, Any]) -> Any:
    """A Bicep parse tree of names, literals, ==, ! and ?: evaluated with ``names`` bound."""
    if isinstance(expression, str):
        return names.get(expression, expression)
    if isinstance(expression, dict) and "operator" in expression:
        operator, operands = expression["operator"]["type"], expression["operator"]["operands"]
        if operator == "equals":
            return evaluate(operands["operand_1"], names) == evaluate(operands["operand_2"], names)
        if operator == "not":
            return not evaluate(operands["bool_value"], names)
        if operator == "conditional":
            chosen = "true_value" if evaluate(operands["condition"], names) else "false_value"
            return evaluate(operands[chosen], names)
    if isinstance(expression, bool | list):
        return expression
    raise AssertionError(f"not a simple expression: {expression}")


def main_bicep_names(vision_auth: str) -> dict[str, Any]:
    names: dict[str, Any] = {"visionAuth": vision_auth}
    names["useKeys"] = evaluate(parse_bicep(MAIN_BICEP)["variables"]["useKeys"]["value"], names)
    return names


def module(name: str) -> dict[str, Any]:
    """A module of main.bicep: its condition (None: always deployed) and its parameters."""
    config = parse_bicep(MAIN_BICEP)["modules"][name]["config"]
    if "condition" in config:
        return {"condition": config["condition"], "params": config["config"]["params"]}
    return {"condition": None, "params": config["params"]}


def resource_config(path, name: str) -> tuple[Any, dict[str, Any]]:
    """(condition or None, body) of a Bicep resource."""
    config = parse_bicep(path)["resources"][name]["config"]
    return (config["condition"], config["config"]) if "condition" in config else (None, config)


def arm_typed(resource_type: str) -> list[dict[str, Any]]:
    return [r for r in arm_resources(load_json(MAIN_ARM)["resources"]) if r["type"] == resource_type]


def test_vision_auth_is_identity_unless_keys_are_chosen():
    for parameters in (bicep_parameters(MAIN_BICEP), arm_parameters(MAIN_ARM)):
        assert parameters["visionAuth"]["default"] == "identity"
        assert parameters["visionAuth"]["allowed"] == ["identity", "key"]
    for name in ("main.parameters.json", "azuredeploy.parameters.json"):
        assert load_json(INFRA / name)["parameters"]["visionAuth"] == {"value": "identity"}
    assert main_bicep_names("identity")["useKeys"] is False
    assert main_bicep_names("key")["useKeys"] is True
    assert arm_variable("useKeys") == "[equals(parameters('visionAuth'), 'key')]"


@pytest.mark.parametrize(("vision_auth", "keys_refused"), [("identity", True), ("key", False)])
def test_bicep_accounts_refuse_keys_unless_keys_are_chosen(vision_auth, keys_refused):
    cognitive = module("cognitive")
    assert cognitive["condition"] is None
    passed = evaluate(cognitive["params"]["disableLocalAuth"], main_bicep_names(vision_auth))
    assert passed is keys_refused
    # Deployed alone (and as checkov reads it), the module is keyless too.
    assert parse_bicep(COGNITIVE_BICEP)["parameters"]["disableLocalAuth"]["default"] is True
    for account, name_parameter in (("vision", "visionAccountName"), ("face", "faceAccountName")):
        _, body = resource_config(COGNITIVE_BICEP, account)
        properties = body["properties"]
        assert properties["disableLocalAuth"] == "disableLocalAuth"
        # Entra ID tokens are accepted on an account's custom subdomain only.
        assert properties["customSubDomainName"] == name_parameter == body["name"]


def test_arm_accounts_refuse_keys_unless_keys_are_chosen():
    accounts = arm_typed("Microsoft.CognitiveServices/accounts")
    assert {account["kind"] for account in accounts} == {"ComputerVision", "Face"}
    for account in accounts:
        assert account["properties"]["disableLocalAuth"] == "[not(variables('useKeys'))]"
        assert account["properties"]["customSubDomainName"] == account["name"]


@pytest.mark.parametrize("vision_auth", ["identity", "key"])
def test_keys_reach_key_vault_and_the_settings_only_when_chosen(vision_auth):
    names = main_bicep_names(vision_auth)
    keys_module = module("visionKeys")
    assert evaluate(keys_module["condition"], names) is names["useKeys"]
    secrets = parse_bicep(KEYS_BICEP)["resources"]
    assert {r["type"] for r in secrets.values() if not r["existing"]} == {"Microsoft.KeyVault/vaults/secrets"}
    assert "Microsoft.KeyVault/vaults/secrets" not in {
        r["type"] for r in parse_bicep(COGNITIVE_BICEP)["resources"].values()
    }

    app = module("functionApp")["params"]
    assert app["visionAuth"] == "visionAuth"
    variables = parse_bicep(FUNCTION_APP_BICEP)["variables"]
    chosen = evaluate(
        variables["authAppSettings"]["value"], {"visionAuth": vision_auth, "visionKeyAppSettings": "keys"}
    )
    assert chosen == ("keys" if vision_auth == "key" else [])
    for combined in ("flexAppSettings", "elasticPremiumAllAppSettings"):
        arguments = variables[combined]["value"]["function"]["parameters"].values()
        assert "authAppSettings" in arguments and "visionKeyAppSettings" not in arguments


def test_arm_keys_and_key_settings_are_conditional():
    for secret in arm_typed("Microsoft.KeyVault/vaults/secrets"):
        assert secret["condition"] == "[variables('useKeys')]"
    assert arm_variable("authAppSettings") == (
        "[if(variables('useKeys'), variables('visionKeyAppSettings'), createArray())]"
    )
    expression = arm_site()["properties"]["siteConfig"]["appSettings"]
    assert "variables('authAppSettings')" in expression and "visionKeyAppSettings" not in expression


@pytest.mark.parametrize(
    ("settings", "vision_auth"),
    [
        (parse_bicep(FUNCTION_APP_BICEP)["variables"]["pipelineAppSettings"]["value"], "visionAuth"),
        (arm_variable("pipelineAppSettings"), "[parameters('visionAuth')]"),
    ],
    ids=["bicep", "arm"],
)
def test_the_app_is_told_how_to_sign_in_and_holds_no_key_setting_by_default(settings, vision_auth):
    values = {s["name"]: s["value"] for s in settings}
    assert values["VISION_AUTH"] == vision_auth
    assert not KEY_SETTINGS & set(values)


@pytest.mark.parametrize("vision_auth", ["identity", "key"])
def test_bicep_roles_follow_the_choice(vision_auth):
    names = main_bicep_names(vision_auth)
    roles = module("roles")["params"]
    assert roles["useKeys"] == "useKeys"
    assert (
        parse_bicep(ROLES_BICEP)["variables"]["roles"]["value"]["cognitiveServicesUser"]
        == COGNITIVE_SERVICES_USER
    )
    granted: dict[str, set[str]] = {}
    for name in parse_bicep(ROLES_BICEP)["resources"]:
        resource = parse_bicep(ROLES_BICEP)["resources"][name]
        if resource["type"] != "Microsoft.Authorization/roleAssignments":
            continue
        condition, body = resource_config(ROLES_BICEP, name)
        if condition is not None and not evaluate(condition, names):
            continue
        role = body["properties"]["roleDefinitionId"]["function"]["parameters"]["resource_name_1"]
        granted.setdefault(role["operator"]["operands"]["operand_2"], set()).add(body["scope"])
    if vision_auth == "identity":
        assert granted["cognitiveServicesUser"] == {"vision", "face"}
        assert "keyVaultSecretsUser" not in granted
    else:
        assert granted["keyVaultSecretsUser"] == {"vault"}
        assert "cognitiveServicesUser" not in granted


def test_arm_roles_follow_the_choice():
    assignments = arm_typed("Microsoft.Authorization/roleAssignments")
    users = [a for a in assignments if "roles').cognitiveServicesUser" in a["properties"]["roleDefinitionId"]]
    assert {a["scope"] for a in users} == {
        f"[format('Microsoft.CognitiveServices/accounts/{{0}}', variables('names').{account})]"
        for account in ("vision", "face")
    }
    assert all(a["condition"] == "[not(variables('useKeys'))]" for a in users)
    (secrets_user,) = [a for a in assignments if "keyVaultSecretsUser" in a["properties"]["roleDefinitionId"]]
    assert secrets_user["condition"] == "[variables('useKeys')]"

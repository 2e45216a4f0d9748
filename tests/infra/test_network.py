"""Private networking (networkIsolation, on by default): VNet integration for the app, a private endpoint and a
private DNS zone for every service it calls, and those services' public endpoints closed; the same in Bicep
and ARM, and public again (identity-guarded) with networkIsolation=false."""

from __future__ import annotations

import ipaddress
import re
from typing import Any

import pytest

from pipeline.settings import STORAGE_CONNECTION
from tests.infra.templates import (
    INFRA,
    MAIN_ARM,
    MAIN_BICEP,
    arm_resources,
    bicep_string_as_arm,
    load_json,
    parse_bicep,
)
from tests.infra.test_templates import (
    arm_parameters,
    arm_site,
    arm_variable,
    bicep_parameters,
    bicep_variable,
)
from tests.infra.test_vision_auth import arm_typed, evaluate, module, resource_config

MODULES = INFRA / "modules"

# The module of each data service, its resources there, and the private-link sub-resources (groupIds) the
# app needs from it.
DATA_SERVICES = {
    "storage": ("storage.bicep", ["storage"], {"blob", "queue"}),
    "keyVault": ("keyvault.bicep", ["vault"], {"vault"}),
    "cognitive": ("cognitive.bicep", ["vision", "face"], {"account"}),
    "sql": ("sql.bicep", ["server"], {"sqlServer"}),
}
ARM_DATA_TYPES = {
    "Microsoft.Storage/storageAccounts",
    "Microsoft.KeyVault/vaults",
    "Microsoft.CognitiveServices/accounts",
    "Microsoft.Sql/servers",
}

# Microsoft's private DNS zone of each private-link sub-resource (Azure public cloud), written out here
# rather than read from the templates, so that a wrong zone in both templates still fails.
EXPECTED_ZONES = {
    "blob": "[format('privatelink.blob.{0}', environment().suffixes.storage)]",
    "queue": "[format('privatelink.queue.{0}', environment().suffixes.storage)]",
    "vault": "privatelink.vaultcore.azure.net",
    "sqlServer": "[format('privatelink{0}', environment().suffixes.sqlServerHostname)]",
    "account": "privatelink.cognitiveservices.azure.com",
}

ARM_IF = re.compile(r"\[if\(parameters\('networkIsolation'\), '([^']*)', '([^']*)'\)\]")


def arm_choice(expression: str, network_isolation: bool) -> str:
    """The value of "[if(parameters('networkIsolation'), 'A', 'B')]" for one setting of the parameter."""
    match = ARM_IF.fullmatch(expression)
    assert match, f"not a networkIsolation choice: {expression}"
    return match.group(1) if network_isolation else match.group(2)


def main_names(network_isolation: bool) -> dict[str, Any]:
    names: dict[str, Any] = {"networkIsolation": network_isolation}
    for variable in ("dataPublicNetworkAccess", "dataFirewallDefaultAction"):
        names[variable] = evaluate(bicep_variable(MAIN_BICEP, variable), names)
    return names


def bicep_targets() -> list[dict[str, Any]]:
    """privateEndpointTargets with ARM's spelling of names.<x> and zone references, to compare with ARM."""
    zones = {
        key: bicep_string_as_arm(value)
        for key, value in bicep_variable(MAIN_BICEP, "privateDnsZoneNames").items()
    }
    targets = []
    for target in bicep_variable(MAIN_BICEP, "privateEndpointTargets"):
        name_ref, zone_ref = (
            target["serviceName"]["operator"]["operands"],
            target["zone"]["operator"]["operands"],
        )
        assert name_ref["operand_1"] == "names" and zone_ref["operand_1"] == "privateDnsZoneNames"
        targets.append(
            {
                **target,
                "serviceName": f"[variables('names').{name_ref['operand_2']}]",
                "zone": zones[zone_ref["operand_2"]],
            }
        )
    return targets


def arm_targets() -> list[dict[str, Any]]:
    zones = arm_variable("privateDnsZoneNames")
    resolved = []
    for target in arm_variable("privateEndpointTargets"):
        zone = re.fullmatch(r"\[variables\('privateDnsZoneNames'\)\.(\w+)\]", target["zone"])
        assert zone, target["zone"]
        resolved.append({**target, "zone": zones[zone.group(1)]})
    return resolved


# -- the parameter ---------------------------------------------------------------------------------------


def test_network_isolation_is_on_by_default():
    for parameters in (bicep_parameters(MAIN_BICEP), arm_parameters(MAIN_ARM)):
        assert parameters["networkIsolation"]["type"] == "bool"
    assert parse_bicep(MAIN_BICEP)["parameters"]["networkIsolation"]["default"] is True
    assert load_json(MAIN_ARM)["parameters"]["networkIsolation"]["defaultValue"] is True
    for name in ("main.parameters.json", "azuredeploy.parameters.json"):
        assert load_json(INFRA / name)["parameters"].get("networkIsolation", {"value": True}) == {
            "value": True
        }


# -- the data services close their public endpoints -------------------------------------------------------


@pytest.mark.parametrize(
    ("network_isolation", "access", "default_action"),
    [(True, "Disabled", "Deny"), (False, "Enabled", "Allow")],
)
def test_bicep_data_services_follow_network_isolation(network_isolation, access, default_action):
    names = main_names(network_isolation)
    assert (names["dataPublicNetworkAccess"], names["dataFirewallDefaultAction"]) == (access, default_action)
    for module_name, (path, resources, _) in DATA_SERVICES.items():
        params = module(module_name)["params"]
        assert evaluate(params["publicNetworkAccess"], names) == access, module_name
        declared = parse_bicep(MODULES / path)["parameters"]
        # Deployed alone, and as checkov reads the module, every service is closed.
        assert declared["publicNetworkAccess"]["default"] == "Disabled", path
        for resource in resources:
            _, body = resource_config(MODULES / path, resource)
            assert body["properties"]["publicNetworkAccess"] == "publicNetworkAccess", (path, resource)
        if "networkDefaultAction" in declared:
            assert evaluate(params["networkDefaultAction"], names) == default_action, module_name
            assert declared["networkDefaultAction"]["default"] == "Deny", path
            for resource in resources:
                _, body = resource_config(MODULES / path, resource)
                assert body["properties"]["networkAcls"]["defaultAction"] == "networkDefaultAction"
        else:
            assert module_name == "sql"  # a SQL server has firewall rules instead, see below


@pytest.mark.parametrize(
    ("network_isolation", "access", "default_action"),
    [(True, "Disabled", "Deny"), (False, "Enabled", "Allow")],
)
def test_arm_data_services_follow_network_isolation(network_isolation, access, default_action):
    assert arm_choice(arm_variable("dataPublicNetworkAccess"), network_isolation) == access
    assert arm_choice(arm_variable("dataFirewallDefaultAction"), network_isolation) == default_action
    services = [r for r in arm_resources(load_json(MAIN_ARM)["resources"]) if r["type"] in ARM_DATA_TYPES]
    assert {r["type"] for r in services} == ARM_DATA_TYPES and len(services) == 5
    for service in services:
        properties = service["properties"]
        assert properties["publicNetworkAccess"] == "[variables('dataPublicNetworkAccess')]", service["type"]
        if service["type"] != "Microsoft.Sql/servers":
            assert properties["networkAcls"]["defaultAction"] == "[variables('dataFirewallDefaultAction')]"


def test_checkov_cannot_swap_the_modules_secure_defaults():
    """checkov resolves a Bicep name across every file at once (the last definition wins, in an order that
    changes from run to run), so a main.bicep variable named like a module parameter would make checkov judge
    the modules by main's unevaluated ternary on some runs. Every definition of these names is a module
    parameter with the same secure default."""
    secure = {"publicNetworkAccess": "Disabled", "networkDefaultAction": "Deny"}
    for path in sorted(INFRA.rglob("*.bicep")):
        parsed = parse_bicep(path)
        for kind in ("variables", "resources", "modules", "outputs"):
            assert not secure.keys() & parsed.get(kind, {}).keys(), f"{path.name} {kind}"
        for name, value in secure.items():
            if name in parsed["parameters"]:
                assert parsed["parameters"][name]["default"] == value, f"{path.name} {name}"


def test_sql_firewall_rules_exist_only_on_a_public_server():
    sql = MODULES / "sql.bicep"
    condition, _ = resource_config(sql, "allowAzureServices")
    assert condition == "publicEndpoint"
    loop = parse_bicep(sql)["resources"]["operatorRules"]["config"]["loop_type"]["detail"]["array_name"]
    for public, expected in ((True, "clientIpAddresses"), (False, [])):
        assert evaluate(loop, {"publicEndpoint": public}) == expected
    for access, public in (("Enabled", True), ("Disabled", False)):
        assert evaluate(bicep_variable(sql, "publicEndpoint"), {"publicNetworkAccess": access}) is public

    (server,) = arm_typed("Microsoft.Sql/servers")
    (azure_rule,) = [r for r in server["resources"] if r["type"] == "firewallRules"]
    assert azure_rule["condition"] == "[not(parameters('networkIsolation'))]"
    (operator_rules,) = [r for r in arm_typed("Microsoft.Sql/servers/firewallRules") if "copy" in r]
    assert operator_rules["copy"]["count"] == (
        "[if(parameters('networkIsolation'), 0, length(parameters('sqlClientIpAddresses')))]"
    )


# -- private endpoints and DNS ---------------------------------------------------------------------------


def test_every_service_the_app_calls_has_a_private_endpoint():
    targets = bicep_targets()
    assert targets == arm_targets()
    assert len({t["name"] for t in targets}) == len(targets)
    group_ids: dict[str, set[str]] = {}
    for target in targets:
        group_ids.setdefault(target["serviceType"], set()).add(target["groupId"])
    assert group_ids == {
        "Microsoft.Storage/storageAccounts": DATA_SERVICES["storage"][2],
        "Microsoft.KeyVault/vaults": DATA_SERVICES["keyVault"][2],
        "Microsoft.CognitiveServices/accounts": DATA_SERVICES["cognitive"][2],
        "Microsoft.Sql/servers": DATA_SERVICES["sql"][2],
    }
    # Both vision accounts, each by its own name.
    accounts = {
        t["serviceName"] for t in targets if t["serviceType"] == "Microsoft.CognitiveServices/accounts"
    }
    assert accounts == {"[variables('names').vision]", "[variables('names').face]"}


def test_storage_endpoints_are_the_services_the_app_is_configured_with():
    """Identity-based AzureWebJobsStorage names one URI per storage service the host and the code use; each of
    them, and no other, needs a private endpoint (a new tableServiceUri would need a table endpoint)."""
    settings = bicep_variable(MODULES / "functionapp.bicep", "pipelineAppSettings")
    services = {
        s["name"].removeprefix(f"{STORAGE_CONNECTION}__").removesuffix("ServiceUri")
        for s in settings
        if s["name"].startswith(f"{STORAGE_CONNECTION}__") and s["name"].endswith("ServiceUri")
    }
    storage = {
        t["groupId"] for t in bicep_targets() if t["serviceType"] == "Microsoft.Storage/storageAccounts"
    }
    assert services == storage == {"blob", "queue"}


def test_each_endpoint_registers_in_its_services_private_dns_zone():
    zones = {
        key: bicep_string_as_arm(value)
        for key, value in bicep_variable(MAIN_BICEP, "privateDnsZoneNames").items()
    }
    assert zones == arm_variable("privateDnsZoneNames")
    for target in bicep_targets():
        assert target["zone"] == EXPECTED_ZONES[target["groupId"]], target["name"]
    assert set(zones.values()) == {t["zone"] for t in bicep_targets()}, "a zone no endpoint uses"

    endpoint = parse_bicep(MODULES / "private-endpoint.bicep")["resources"]
    connection = endpoint["endpoint"]["config"]["properties"]["privateLinkServiceConnections"][0][
        "properties"
    ]
    assert connection == {"privateLinkServiceId": "serviceId", "groupIds": ["groupId"]}
    zone_config = endpoint["dnsZoneGroup"]["config"]["properties"]["privateDnsZoneConfigs"][0]["properties"]
    assert zone_config == {"privateDnsZoneId": "privateDnsZoneId"}
    params = module("privateEndpoints")["params"]
    assert (
        params["privateDnsZoneId"]["function"]["parameters"]["resource_type"]
        == "Microsoft.Network/privateDnsZones"
    )

    (group,) = arm_typed("Microsoft.Network/privateEndpoints/privateDnsZoneGroups")
    zone_id = group["properties"]["privateDnsZoneConfigs"][0]["properties"]["privateDnsZoneId"]
    assert (
        zone_id
        == "[resourceId('Microsoft.Network/privateDnsZones', variables('privateEndpointTargets')[copyIndex()].zone)]"
    )
    (arm_endpoint,) = arm_typed("Microsoft.Network/privateEndpoints")
    arm_connection = arm_endpoint["properties"]["privateLinkServiceConnections"][0]["properties"]
    assert arm_connection["groupIds"] == ["[variables('privateEndpointTargets')[copyIndex()].groupId]"]


def test_every_zone_is_linked_to_the_network():
    links = parse_bicep(MODULES / "network.bicep")["resources"]["zoneLinks"]["config"]
    assert links["loop_type"]["detail"]["array_name"] == "privateDnsZoneNames"
    assert (
        links["config"]["properties"]["virtualNetwork"]["id"]["operator"]["operands"]["operand_1"]
        == "network"
    )
    (arm_zones,) = arm_typed("Microsoft.Network/privateDnsZones")
    (arm_links,) = arm_typed("Microsoft.Network/privateDnsZones/virtualNetworkLinks")
    assert arm_zones["copy"]["count"] == arm_links["copy"]["count"]
    assert arm_links["properties"]["registrationEnabled"] is False
    assert arm_links["properties"]["virtualNetwork"]["id"] == (
        "[resourceId('Microsoft.Network/virtualNetworks', variables('names').virtualNetwork)]"
    )


@pytest.mark.parametrize("network_isolation", [True, False])
def test_network_resources_exist_only_with_network_isolation(network_isolation):
    names = {"networkIsolation": network_isolation}
    assert evaluate(module("network")["condition"], names) is network_isolation
    loop = parse_bicep(MAIN_BICEP)["modules"]["privateEndpoints"]["config"]["loop_type"]["detail"][
        "array_name"
    ]
    assert evaluate(loop, names) == ("privateEndpointTargets" if network_isolation else [])

    for resource_type in (
        "Microsoft.Network/virtualNetworks",
        "Microsoft.Network/privateDnsZones",
        "Microsoft.Network/privateDnsZones/virtualNetworkLinks",
    ):
        (resource,) = arm_typed(resource_type)
        assert resource["condition"] == "[parameters('networkIsolation')]", resource_type
    for resource_type in (
        "Microsoft.Network/privateEndpoints",
        "Microsoft.Network/privateEndpoints/privateDnsZoneGroups",
    ):
        (resource,) = arm_typed(resource_type)
        assert resource["copy"]["count"] == (
            "[if(parameters('networkIsolation'), length(variables('privateEndpointTargets')), 0)]"
        )


# -- the Function App's side ------------------------------------------------------------------------------


@pytest.mark.parametrize("network_isolation", [True, False])
def test_the_app_integrates_with_its_subnet_when_isolated(network_isolation):
    subnet = module("functionApp")["params"]["virtualNetworkSubnetId"]
    expected = "subnetIds.functionApp" if network_isolation else ""
    assert evaluate(subnet, {"networkIsolation": network_isolation}) == expected
    subnet_ids = bicep_variable(MAIN_BICEP, "subnetIds")
    for key in ("functionApp", "privateEndpoints"):
        resource_id = subnet_ids[key]["function"]["parameters"]
        assert resource_id["resource_type"] == "Microsoft.Network/virtualNetworks/subnets"
        assert evaluate(resource_id["resource_name_2"], {}) == f"subnetNames.{key}"
    assert arm_site()["properties"]["virtualNetworkSubnetId"] == (
        "[if(parameters('networkIsolation'), variables('subnetIds').functionApp, null())]"
    )
    # The app starts only once its private endpoints and their DNS records exist.
    assert {"network", "privateEndpoints"} <= set(
        parse_bicep(MAIN_BICEP)["modules"]["functionApp"]["config"]["dependsOn"]
    )
    assert "privateEndpointDnsZoneGroups" in arm_site()["dependsOn"]


@pytest.mark.parametrize(
    ("plan", "delegation"),
    [("FlexConsumption", "Microsoft.App/environments"), ("ElasticPremium", "Microsoft.Web/serverFarms")],
)
def test_the_integration_subnet_is_delegated_to_the_plans_service(plan, delegation):
    chosen = evaluate(module("network")["params"]["integrationDelegation"], {"hostingPlan": plan})
    assert chosen == delegation
    assert delegation in bicep_parameters(MODULES / "network.bicep")["integrationDelegation"]["allowed"]
    (network,) = arm_typed("Microsoft.Network/virtualNetworks")
    subnets = {s["name"]: s["properties"] for s in network["properties"]["subnets"]}
    app_subnet = subnets["[variables('subnetNames').functionApp]"]
    assert app_subnet["delegations"][0]["properties"]["serviceName"] == (
        "[if(variables('isFlex'), 'Microsoft.App/environments', 'Microsoft.Web/serverFarms')]"
    )
    assert "delegations" not in subnets["[variables('subnetNames').privateEndpoints]"]


@pytest.mark.parametrize(
    ("subnet", "plan", "joined", "route_all"),
    [
        ("", "FlexConsumption", None, None),
        ("", "ElasticPremium", None, None),
        ("subnet-id", "FlexConsumption", "subnet-id", None),
        ("subnet-id", "ElasticPremium", "subnet-id", True),
    ],
)
def test_bicep_site_joins_the_subnet_it_is_given(subnet, plan, joined, route_all):
    path = MODULES / "functionapp.bicep"
    names: dict[str, Any] = {"virtualNetworkSubnetId": subnet, "hostingPlan": plan}
    for variable in ("isFlex", "integrated"):
        names[variable] = evaluate(bicep_variable(path, variable), names)
    _, site = resource_config(path, "site")
    assert evaluate(site["properties"]["virtualNetworkSubnetId"], names) == joined
    assert evaluate(site["properties"]["siteConfig"]["vnetRouteAllEnabled"], names) == route_all
    assert arm_site()["properties"]["siteConfig"]["vnetRouteAllEnabled"] == (
        "[if(and(parameters('networkIsolation'), not(variables('isFlex'))), true(), null())]"
    )


def test_subnets_are_the_network_address_space():
    body = parse_bicep(MODULES / "network.bicep")["resources"]["network"]["config"]["properties"]
    prefixes = [s["properties"]["addressPrefix"] for s in body["subnets"]]
    assert (
        body["addressSpace"]["addressPrefixes"]
        == prefixes
        == ["functionAppSubnetPrefix", "privateEndpointSubnetPrefix"]
    )
    assert bicep_variable(MAIN_BICEP, "subnetNames") == arm_variable("subnetNames")
    defaults = [
        bicep_parameters(MAIN_BICEP)[p]["default"]
        for p in ("functionAppSubnetPrefix", "privateEndpointSubnetPrefix")
    ]
    first, second = (ipaddress.ip_network(d) for d in defaults)
    assert not first.overlaps(second) and first.is_private and second.is_private
    # Room for the six endpoints plus Azure's five reserved addresses.
    assert second.num_addresses - 5 >= len(bicep_targets())

// networkIsolation only (main.bicep deploys this module just then): the virtual network the Function App
// integrates with, the subnet of the private endpoints, and one private DNS zone per private-link service,
// each linked to the network so that the app resolves the services' usual host names to private addresses.
//
// Two subnets, whose ranges are the network's address space: the Function App's integration subnet
// (delegated, used by nothing else) and the private endpoints' subnet. Nothing else is deployed into the network; operators
// reach it through a peering, a VPN gateway or Bastion of their own (docs/AZURE.md, "Private networking").

@description('Azure region of the resources.')
param location string

@description('Name of the virtual network.')
param virtualNetworkName string

@description('Address range of the Function App\'s integration subnet.')
param functionAppSubnetPrefix string

@description('Address range of the private endpoints\' subnet.')
param privateEndpointSubnetPrefix string

@description('Names of the two subnets: functionApp (integration) and privateEndpoints.')
param subnetNames object

@description('Service the integration subnet is delegated to: Microsoft.App/environments for Flex Consumption, Microsoft.Web/serverFarms for Elastic Premium.')
@allowed([
  'Microsoft.App/environments'
  'Microsoft.Web/serverFarms'
])
param integrationDelegation string

@description('Private DNS zones to create and link, e.g. privatelink.blob.core.windows.net.')
param privateDnsZoneNames array

resource network 'Microsoft.Network/virtualNetworks@2023-11-01' = {
  name: virtualNetworkName
  location: location
  properties: {
    addressSpace: {
      addressPrefixes: [
        functionAppSubnetPrefix
        privateEndpointSubnetPrefix
      ]
    }
    subnets: [
      {
        name: subnetNames.functionApp
        properties: {
          addressPrefix: functionAppSubnetPrefix
          delegations: [
            {
              name: 'function-app'
              properties: {
                serviceName: integrationDelegation
              }
            }
          ]
        }
      }
      {
        name: subnetNames.privateEndpoints
        properties: {
          addressPrefix: privateEndpointSubnetPrefix
        }
      }
    ]
  }
}

resource zones 'Microsoft.Network/privateDnsZones@2020-06-01' = [
  for zone in privateDnsZoneNames: {
    name: zone
    location: 'global'
  }
]

// Without a link the zone answers nobody: the app would resolve the services to their public addresses,
// which refuse it once public network access is disabled.
resource zoneLinks 'Microsoft.Network/privateDnsZones/virtualNetworkLinks@2020-06-01' = [
  for (zone, i) in privateDnsZoneNames: {
    parent: zones[i]
    name: virtualNetworkName
    location: 'global'
    properties: {
      registrationEnabled: false
      virtualNetwork: {
        id: network.id
      }
    }
  }
]

output virtualNetworkName string = network.name

// One private endpoint of one service (a storage account's blob or queue service, the Key Vault, the SQL
// server, a Cognitive Services account) in the private endpoints' subnet, and the DNS zone group that writes
// its private address into the service's private DNS zone (network.bicep).

@description('Azure region of the resources.')
param location string

@description('Name of the private endpoint.')
param endpointName string

@description('Resource id of the subnet that holds the private endpoints.')
param subnetId string

@description('Resource id of the service the endpoint connects to.')
param serviceId string

@description('Private-link sub-resource of the service: blob, queue, vault, sqlServer or account.')
param groupId string

@description('Resource id of the private DNS zone that receives the endpoint\'s address.')
param privateDnsZoneId string

resource endpoint 'Microsoft.Network/privateEndpoints@2023-11-01' = {
  name: endpointName
  location: location
  properties: {
    subnet: {
      id: subnetId
    }
    privateLinkServiceConnections: [
      {
        name: endpointName
        properties: {
          privateLinkServiceId: serviceId
          groupIds: [
            groupId
          ]
        }
      }
    ]
  }
}

resource dnsZoneGroup 'Microsoft.Network/privateEndpoints/privateDnsZoneGroups@2023-11-01' = {
  parent: endpoint
  name: 'default'
  properties: {
    privateDnsZoneConfigs: [
      {
        name: groupId
        properties: {
          privateDnsZoneId: privateDnsZoneId
        }
      }
    ]
  }
}

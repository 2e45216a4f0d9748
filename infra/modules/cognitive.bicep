// Computer Vision and Face accounts, keyless by default.
//
// disableLocalAuth (the default, visionAuth=identity): only Microsoft Entra ID tokens are accepted; the
// Function App's managed identity holds Cognitive Services User on each account (roles.bicep) and no key is
// usable anywhere. With the opt-in visionAuth=key, local auth stays enabled and visionkeys.bicep writes the
// keys into Key Vault. With networkIsolation (main.bicep's default) both answer only through private endpoints.

@description('Azure region of the resources.')
param location string

@description('Name (and custom subdomain) of the Computer Vision account.')
param visionAccountName string

@description('Name (and custom subdomain) of the Face account.')
param faceAccountName string

@description('Refuse account keys, accept Entra ID tokens only: true unless the deployment opts in to keys (visionAuth=key).')
param disableLocalAuth bool = true

@description('Disabled (networkIsolation, the default): both accounts answer only through their private endpoints. Enabled: public endpoints, every call still needs an Entra token (or, opted in, a key).')
@allowed([
  'Disabled'
  'Enabled'
])
param publicNetworkAccess string = 'Disabled'

@description('Firewall default for the public endpoints: Deny with networkIsolation, Allow without.')
@allowed([
  'Deny'
  'Allow'
])
param networkDefaultAction string = 'Deny'

resource vision 'Microsoft.CognitiveServices/accounts@2024-10-01' = {
  name: visionAccountName
  location: location
  kind: 'ComputerVision'
  sku: {
    name: 'S0'
  }
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    // A custom subdomain gives the account its own endpoint host name; Entra ID tokens and private
    // endpoints need one.
    customSubDomainName: visionAccountName
    publicNetworkAccess: publicNetworkAccess
    disableLocalAuth: disableLocalAuth
    networkAcls: {
      defaultAction: networkDefaultAction
    }
  }
}

resource face 'Microsoft.CognitiveServices/accounts@2024-10-01' = {
  name: faceAccountName
  location: location
  kind: 'Face'
  sku: {
    name: 'S0'
  }
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    customSubDomainName: faceAccountName
    publicNetworkAccess: publicNetworkAccess
    disableLocalAuth: disableLocalAuth
    networkAcls: {
      defaultAction: networkDefaultAction
    }
  }
}

output visionAccountName string = vision.name
output faceAccountName string = face.name
output visionEndpoint string = vision.properties.endpoint
output faceEndpoint string = face.properties.endpoint

// Computer Vision and Face accounts, keyless by default.
//
// disableLocalAuth (the default, visionAuth=identity): only Microsoft Entra ID tokens are accepted; the
// Function App's managed identity holds Cognitive Services User on each account (roles.bicep) and no key is
// usable anywhere. With the opt-in visionAuth=key, local auth stays enabled and visionkeys.bicep writes the
// keys into Key Vault.

@description('Azure region of the resources.')
param location string

@description('Name (and custom subdomain) of the Computer Vision account.')
param visionAccountName string

@description('Name (and custom subdomain) of the Face account.')
param faceAccountName string

@description('Refuse account keys, accept Entra ID tokens only: true unless the deployment opts in to keys (visionAuth=key).')
param disableLocalAuth bool = true

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
  // checkov:skip=CKV_AZURE_134:The Function App calls the endpoint over the internet (no VNet integration); each call needs an Entra token of the app's identity (or, opted in, the key kept in Key Vault). docs/AZURE.md, "Network exposure", describes the private-endpoint hardening.
  properties: {
    // A custom subdomain gives the account its own endpoint host name; Entra ID tokens need one.
    customSubDomainName: visionAccountName
    publicNetworkAccess: 'Enabled'
    disableLocalAuth: disableLocalAuth
    networkAcls: {
      defaultAction: 'Allow'
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
  // checkov:skip=CKV_AZURE_134:The Function App calls the endpoint over the internet (no VNet integration); each call needs an Entra token of the app's identity (or, opted in, the key kept in Key Vault). docs/AZURE.md, "Network exposure", describes the private-endpoint hardening.
  properties: {
    customSubDomainName: faceAccountName
    publicNetworkAccess: 'Enabled'
    disableLocalAuth: disableLocalAuth
    networkAcls: {
      defaultAction: 'Allow'
    }
  }
}

output visionAccountName string = vision.name
output faceAccountName string = face.name
output visionEndpoint string = vision.properties.endpoint
output faceEndpoint string = face.properties.endpoint

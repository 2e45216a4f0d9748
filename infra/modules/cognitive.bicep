// Computer Vision and Face accounts, and their keys written into Key Vault.
//
// The pipeline's azure-cognitiveservices-vision-* SDKs authenticate with account keys only, so local (key)
// auth stays enabled and the Function App gets no Cognitive Services role: it could not use one. The keys are
// read here with listKeys() at deployment time and written straight into Key Vault; they are never a
// parameter or an output, and the app sees them only through Key Vault references.

@description('Azure region of the resources.')
param location string

@description('Name (and custom subdomain) of the Computer Vision account.')
param visionAccountName string

@description('Name (and custom subdomain) of the Face account.')
param faceAccountName string

@description('Key Vault that receives the account keys.')
param keyVaultName string

@description('Expiry of the key secrets, seconds since 1970-01-01 (a rotation reminder; redeploying renews it).')
param secretExpiry int

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
  // checkov:skip=CKV_AZURE_236:The azure-cognitiveservices-vision-computervision SDK the pipeline uses authenticates with keys only; the key lives in Key Vault and reaches the app as a Key Vault reference. Disable local auth when the code moves to an Entra-capable SDK.
  // checkov:skip=CKV_AZURE_134:The Function App calls the endpoint over the internet (no VNet integration); calls need the account key, kept in Key Vault. docs/AZURE.md, "Network exposure", describes the private-endpoint hardening.
  properties: {
    // A custom subdomain gives the account its own endpoint host name (required for Entra auth later).
    customSubDomainName: visionAccountName
    publicNetworkAccess: 'Enabled'
    disableLocalAuth: false
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
  // checkov:skip=CKV_AZURE_236:The azure-cognitiveservices-vision-face SDK the pipeline uses authenticates with keys only; the key lives in Key Vault and reaches the app as a Key Vault reference. Disable local auth when the code moves to an Entra-capable SDK.
  // checkov:skip=CKV_AZURE_134:The Function App calls the endpoint over the internet (no VNet integration); calls need the account key, kept in Key Vault. docs/AZURE.md, "Network exposure", describes the private-endpoint hardening.
  properties: {
    customSubDomainName: faceAccountName
    publicNetworkAccess: 'Enabled'
    disableLocalAuth: false
    networkAcls: {
      defaultAction: 'Allow'
    }
  }
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource visionKey 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: 'vision-key'
  properties: {
    contentType: 'Computer Vision account key'
    value: vision.listKeys().key1
    attributes: {
      enabled: true
      exp: secretExpiry
    }
  }
}

resource faceKey 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: 'face-key'
  properties: {
    contentType: 'Face account key'
    value: face.listKeys().key1
    attributes: {
      enabled: true
      exp: secretExpiry
    }
  }
}

output visionEndpoint string = vision.properties.endpoint
output faceEndpoint string = face.properties.endpoint
// Secret URIs without a version: a renewed secret is picked up without redeploying the app settings.
output visionKeySecretUri string = visionKey.properties.secretUri
output faceKeySecretUri string = faceKey.properties.secretUri

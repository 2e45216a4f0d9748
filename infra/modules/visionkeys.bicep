// visionAuth=key only (main.bicep deploys this module just then): the account keys, read with listKeys() at
// deployment time and written straight into Key Vault. They are never a parameter or an output; the app sees
// them only through Key Vault references.

@description('Name of the Computer Vision account.')
param visionAccountName string

@description('Name of the Face account.')
param faceAccountName string

@description('Key Vault that receives the account keys.')
param keyVaultName string

@description('Expiry of the key secrets, seconds since 1970-01-01 (a rotation reminder; redeploying renews it).')
param secretExpiry int

resource vision 'Microsoft.CognitiveServices/accounts@2024-10-01' existing = {
  name: visionAccountName
}

resource face 'Microsoft.CognitiveServices/accounts@2024-10-01' existing = {
  name: faceAccountName
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

// Secret URIs without a version: a renewed secret is picked up without redeploying the app settings.
output visionKeySecretUri string = visionKey.properties.secretUri
output faceKeySecretUri string = faceKey.properties.secretUri

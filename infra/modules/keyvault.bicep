// Key Vault for what must stay a secret. With the default visionAuth=identity it holds nothing; with
// visionAuth=key it holds the two Cognitive Services keys, which the app reads through Key Vault references.
// It is deployed either way, so switching to keys (or back) is a parameter change. With networkIsolation
// (main.bicep's default) it answers only through its private endpoint.

@description('Azure region of the resources.')
param location string

@description('Name of the Key Vault (3-24 characters).')
param keyVaultName string

@description('Log Analytics workspace that receives the vault\'s audit log.')
param workspaceId string

@description('Disabled (networkIsolation, the default): the vault answers only through its private endpoint. Enabled: public endpoint, every request still needs an Entra token and an RBAC role.')
@allowed([
  'Disabled'
  'Enabled'
])
param publicNetworkAccess string = 'Disabled'

@description('Firewall default for the public endpoint: Deny with networkIsolation, Allow without.')
@allowed([
  'Deny'
  'Allow'
])
param networkDefaultAction string = 'Deny'

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: keyVaultName
  location: location
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    // Azure RBAC instead of access policies: the app gets Key Vault Secrets User (read secrets, nothing else)
    // and nobody else gets data-plane access by default.
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    enablePurgeProtection: true
    publicNetworkAccess: publicNetworkAccess
    networkAcls: {
      defaultAction: networkDefaultAction
      bypass: 'AzureServices'
    }
  }
}

resource vaultLogs 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'key-vault-audit'
  scope: vault
  properties: {
    workspaceId: workspaceId
    logs: [
      {
        category: 'AuditEvent'
        enabled: true
      }
    ]
  }
}

output keyVaultName string = vault.name
output keyVaultId string = vault.id
output keyVaultUri string = vault.properties.vaultUri

// Key Vault for what must stay a secret. With the default visionAuth=identity it holds nothing; with
// visionAuth=key it holds the two Cognitive Services keys, which the app reads through Key Vault references.
// It is deployed either way, so switching to keys (or back) is a parameter change.

@description('Azure region of the resources.')
param location string

@description('Name of the Key Vault (3-24 characters).')
param keyVaultName string

@description('Log Analytics workspace that receives the vault\'s audit log.')
param workspaceId string

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: keyVaultName
  location: location
  // checkov:skip=CKV_AZURE_109:The Function App resolves its Key Vault references over the public endpoint (no VNet integration), so the firewall default cannot be Deny; data-plane access needs an Entra token and the Key Vault Secrets User role, held only by the app's identity.
  // checkov:skip=CKV_AZURE_189:Same reason as CKV_AZURE_109; docs/AZURE.md, "Network exposure", describes the private-endpoint hardening.
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
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
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

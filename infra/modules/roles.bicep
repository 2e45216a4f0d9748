// Least-privilege role assignments for the Function App's managed identity, each on one resource.
//
// Cognitive Services User on each vision account when the app signs in with its identity (the default), Key
// Vault Secrets User only when it reads account keys from the vault instead (visionAuth=key). Not granted: any
// control-plane role (Cognitive Services Contributor could change the accounts), and any access to the SQL server
// (database permissions are granted inside the database, see sql_setup.py).

@description('Principal id of the Function App\'s system-assigned identity.')
param principalId string

@description('Name of the pipeline storage account.')
param storageAccountName string

@description('Name of the Key Vault.')
param keyVaultName string

@description('Name of the Computer Vision account.')
param visionAccountName string

@description('Name of the Face account.')
param faceAccountName string

@description('Whether the app authenticates to the vision accounts with keys (visionAuth=key) instead of its identity.')
param useKeys bool

@description('Name of the Application Insights component.')
param appInsightsName string

// Built-in role definition ids (the same in every tenant).
var roles = {
  // Host storage (keys, leases, blob trigger receipts, Flex deployment package) and the pipeline's containers;
  // Microsoft documents Blob Data Owner as the role the Functions host needs on AzureWebJobsStorage.
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  // Step queue triggers, forwarding jobs to the next step, and the host's poison queues.
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  // Keys only: resolving the Key Vault references VISION_KEY and FACE_KEY (read secret values, nothing else).
  keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6'
  // Identity only: calling Computer Vision and Face with Entra ID tokens. It also lets the holder list the
  // account keys, which disableLocalAuth makes useless; no narrower built-in role covers the Face list writes.
  cognitiveServicesUser: 'a97b65f3-24c7-4388-baec-2e87135dc908'
  // Entra-authenticated telemetry to Application Insights (local auth is disabled there).
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
}

resource storage 'Microsoft.Storage/storageAccounts@2024-01-01' existing = {
  name: storageAccountName
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: appInsightsName
}

resource vision 'Microsoft.CognitiveServices/accounts@2024-10-01' existing = {
  name: visionAccountName
}

resource face 'Microsoft.CognitiveServices/accounts@2024-10-01' existing = {
  name: faceAccountName
}

resource blobData 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, principalId, roles.storageBlobDataOwner)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataOwner)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

resource queueData 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, principalId, roles.storageQueueDataContributor)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageQueueDataContributor)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

resource secretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (useKeys) {
  name: guid(vault.id, principalId, roles.keyVaultSecretsUser)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsUser)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

resource metricsPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(appInsights.id, principalId, roles.monitoringMetricsPublisher)
  scope: appInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.monitoringMetricsPublisher)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

resource visionUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!useKeys) {
  name: guid(vision.id, principalId, roles.cognitiveServicesUser)
  scope: vision
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.cognitiveServicesUser)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

resource faceUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!useKeys) {
  name: guid(face.id, principalId, roles.cognitiveServicesUser)
  scope: face
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.cognitiveServicesUser)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

// The pipeline's storage account: the blob containers of the message contract, one queue and one poison queue
// per step, the Flex Consumption deployment container, and the Event Grid system topic that feeds the
// EventGrid-source blob trigger `ingest`. With networkIsolation (main.bicep's default) the blob and queue
// services answer only through private endpoints; Event Grid still receives the account's blob events.

@description('Azure region of the resources.')
param location string

@description('Name of the storage account (3-24 lowercase letters and digits).')
param storageAccountName string

@description('Replication of the storage account.')
param skuName string

@description('Blob containers the pipeline reads and writes (pipeline.storage.PIPELINE_CONTAINERS).')
param pipelineContainers array

@description('Container that holds the Function App deployment package.')
param deploymentContainer string

@description('Step names; each gets the queues step-<name> and step-<name>-poison.')
param stepNames array

@description('Name of the Event Grid system topic for the account\'s blob events.')
param systemTopicName string

@description('Log Analytics workspace that receives the blob and queue access logs.')
param workspaceId string

@description('Disabled (networkIsolation, the default): the blob and queue services answer only through their private endpoints. Enabled: public endpoint, every request still needs an Entra token.')
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

resource storage 'Microsoft.Storage/storageAccounts@2024-01-01' = {
  name: storageAccountName
  location: location
  kind: 'StorageV2'
  sku: {
    name: skuName
  }
  // checkov:skip=CKV_AZURE_206:The replication comes from main.bicep's storageSku parameter (default Standard_GRS, geo-redundant); checkov cannot resolve a module parameter. Standard_ZRS/LRS are allowed for images that must stay in one region.
  // checkov:skip=CKV_AZURE_43:The name comes from main.bicep (st + namePrefix + uniqueString, at most 24 lowercase letters and digits); checkov cannot resolve a module parameter.
  properties: {
    accessTier: 'Hot'
    // No anonymous reads, on any container, ever.
    allowBlobPublicAccess: false
    // Identity-only: the host (AzureWebJobsStorage__credential=managedidentity), the pipeline code, the Flex
    // Consumption deployment and the operators all authenticate with Entra ID. Elastic Premium runs from a
    // package URL instead of an Azure Files content share, so it needs no account key either.
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    allowCrossTenantReplication: false
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: publicNetworkAccess
    networkAcls: {
      defaultAction: networkDefaultAction
      bypass: 'AzureServices'
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2024-01-01' = {
  parent: storage
  name: 'default'
  properties: {
    // An accidental delete of an original upload or a whole container can be undone for a week.
    deleteRetentionPolicy: {
      enabled: true
      days: 7
    }
    containerDeleteRetentionPolicy: {
      enabled: true
      days: 7
    }
  }
}

resource containers 'Microsoft.Storage/storageAccounts/blobServices/containers@2024-01-01' = [
  for name in concat(pipelineContainers, [deploymentContainer]): {
    parent: blobService
    name: name
    properties: {
      publicAccess: 'None'
    }
  }
]

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2024-01-01' = {
  parent: storage
  name: 'default'
}

// Created up front (the code would also create them on first send) so that operators can watch every queue
// from the first upload on, and so the app's identity never needs to create queues in production.
resource stepQueues 'Microsoft.Storage/storageAccounts/queueServices/queues@2024-01-01' = [
  for step in stepNames: {
    parent: queueService
    name: 'step-${step}'
  }
]

resource poisonQueues 'Microsoft.Storage/storageAccounts/queueServices/queues@2024-01-01' = [
  for step in stepNames: {
    parent: queueService
    name: 'step-${step}-poison'
  }
]

// Who read or wrote which image: data-plane access logs of blobs and queues go to Log Analytics.
resource blobLogs 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'storage-access-logs'
  scope: blobService
  properties: {
    workspaceId: workspaceId
    logs: [
      {
        category: 'StorageRead'
        enabled: true
      }
      {
        category: 'StorageWrite'
        enabled: true
      }
      {
        category: 'StorageDelete'
        enabled: true
      }
    ]
  }
}

resource queueLogs 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'storage-access-logs'
  scope: queueService
  properties: {
    workspaceId: workspaceId
    logs: [
      {
        category: 'StorageRead'
        enabled: true
      }
      {
        category: 'StorageWrite'
        enabled: true
      }
      {
        category: 'StorageDelete'
        enabled: true
      }
    ]
  }
}

// The topic exists from the start; its subscription to the Function App's blob webhook is created by
// blob-events.bicep after the code is published, because the webhook needs the host's blobs_extension key.
resource systemTopic 'Microsoft.EventGrid/systemTopics@2022-06-15' = {
  name: systemTopicName
  location: location
  properties: {
    source: storage.id
    topicType: 'Microsoft.Storage.StorageAccounts'
  }
}

output storageAccountName string = storage.name
output storageAccountId string = storage.id
output blobEndpoint string = storage.properties.primaryEndpoints.blob
output queueEndpoint string = storage.properties.primaryEndpoints.queue
output systemTopicName string = systemTopic.name

// Imaginem for Python: everything the pipeline needs in one resource group.
//
// Source of truth for the Azure deployment; azuredeploy.json is its hand-maintained ARM equivalent for the
// "Deploy to Azure" button (tests/infra holds the two together). Deploy with
//   az deployment group create -g <group> -f infra/main.bicep -p infra/main.parameters.json -p sqlAdmin...=...
// then publish the code, run infra/scripts/sql_setup.py and deploy infra/blob-events.bicep (docs/AZURE.md).
//
// Security defaults: identity-only access everywhere (no storage account keys, no SQL logins, no Cognitive
// Services keys, Entra-only telemetry), TLS 1.2+, private containers, and least-privilege roles for the app's
// managed identity. Cognitive Services keys exist only with visionAuth=key, and then only in Key Vault. Checks
// that do not apply are skipped beside the resource with the reason.

targetScope = 'resourceGroup'

@description('Short prefix of every resource name: 3-11 lowercase letters and digits.')
@minLength(3)
@maxLength(11)
param namePrefix string = 'imaginem'

@description('Azure region of all resources; defaults to the resource group\'s region.')
param location string = resourceGroup().location

@description('FlexConsumption (default: scales to zero, pay per use) or ElasticPremium (always-warm EP1 instances).')
@allowed([
  'FlexConsumption'
  'ElasticPremium'
])
param hostingPlan string = 'FlexConsumption'

@description('PIPELINE_STEPS: comma-separated step list ending with persist (registered steps: normalize, analyze, ocr, faces, facematch, persist).')
param pipelineSteps string = 'normalize,analyze,ocr,faces,facematch,persist'

@description('ORIGINAL_RETENTION: keep (default: an original is deleted only when someone chose so) or delete-after-complete (the original upload is deleted once its job is complete; the metadata-free working copy stays, failed images keep their original).')
@allowed([
  'keep'
  'delete-after-complete'
])
param originalRetention string = 'keep'

@description('VISION_PROVIDER: azure (Computer Vision and Face), local (the open models, deployed from requirements-models.txt), or azure with per-step overrides such as azure,faces=local,facematch=local (face detection and matching on the open models while the Face API limited-access approval is pending).')
param visionProvider string = 'azure'

@description('VISION_AUTH: identity (default: the app\'s managed identity signs in to Computer Vision and Face, which accept no key: disableLocalAuth) or key (account keys in Key Vault, read through Key Vault references).')
@allowed([
  'identity'
  'key'
])
param visionAuth string = 'identity'

@description('Object id of the Microsoft Entra user or group that administers the SQL server (az ad signed-in-user show --query id -o tsv).')
param sqlAdminObjectId string

@description('Name of that Entra user (UPN) or group.')
param sqlAdminLogin string

@description('Whether the SQL administrator is a User, a Group or an Application.')
@allowed([
  'User'
  'Group'
  'Application'
])
param sqlAdminPrincipalType string = 'User'

@description('Public IPv4 addresses of operators allowed through the SQL firewall, e.g. ["203.0.113.7"].')
param sqlClientIpAddresses array = []

@description('Replication of the storage account that holds the original images. Geo-redundant by default; choose Standard_ZRS or Standard_LRS when the images must not leave the region.')
@allowed([
  'Standard_GRS'
  'Standard_RAGRS'
  'Standard_GZRS'
  'Standard_RAGZRS'
  'Standard_ZRS'
  'Standard_LRS'
])
param storageSku string = 'Standard_GRS'

@description('Flex Consumption: the most instances the app scales out to (bounds cost and concurrent SQL sessions).')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 20

@description('Flex Consumption: memory of each instance in MB.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('visionAuth=key only: expiry written on the Key Vault secrets, seconds since 1970-01-01. Defaults to one year after the deployment; redeploying renews it.')
param secretExpiry int = dateTimeToEpoch(dateTimeAdd(utcNow(), 'P1Y'))

// The one list of step names in the templates (steps/__init__.py registers the code's steps): each step gets
// the queue step-<name> and its poison queue step-<name>-poison (pipeline/routing.py). The vision steps'
// queues exist ahead of their code, so enabling them is an app-setting change only.
var pipelineStepNames = [
  'normalize'
  'analyze'
  'ocr'
  'faces'
  'facematch'
  'persist'
]

// pipeline.storage.PIPELINE_CONTAINERS, and the container the Function App is deployed from.
var pipelineContainers = [
  'images'
  'working'
  'faces'
  'claims'
]
var deploymentContainer = 'app-package'

// Keys are an explicit opt-in: the accounts then accept them, Key Vault holds them and the app reads them.
var useKeys = visionAuth == 'key'

var sqlDatabaseName = 'imaginem'
var faceListId = 'imaginem-faces'

// Globally unique names, stable for a resource group and prefix.
var suffix = uniqueString(resourceGroup().id, namePrefix)
var names = {
  storage: take('st${namePrefix}${suffix}', 24)
  keyVault: take('kv-${namePrefix}-${suffix}', 24)
  workspace: 'log-${namePrefix}-${suffix}'
  appInsights: 'appi-${namePrefix}-${suffix}'
  plan: 'plan-${namePrefix}-${suffix}'
  functionApp: 'func-${namePrefix}-${suffix}'
  vision: 'cv-${namePrefix}-${suffix}'
  face: 'face-${namePrefix}-${suffix}'
  sqlServer: 'sql-${namePrefix}-${suffix}'
  systemTopic: 'evgt-${namePrefix}-${suffix}'
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  params: {
    location: location
    workspaceName: names.workspace
    appInsightsName: names.appInsights
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  params: {
    location: location
    storageAccountName: names.storage
    skuName: storageSku
    pipelineContainers: pipelineContainers
    deploymentContainer: deploymentContainer
    stepNames: pipelineStepNames
    systemTopicName: names.systemTopic
    workspaceId: monitoring.outputs.workspaceId
  }
}

module keyVault 'modules/keyvault.bicep' = {
  name: 'keyvault'
  params: {
    location: location
    keyVaultName: names.keyVault
    workspaceId: monitoring.outputs.workspaceId
  }
}

module cognitive 'modules/cognitive.bicep' = {
  name: 'cognitive'
  params: {
    location: location
    visionAccountName: names.vision
    faceAccountName: names.face
    disableLocalAuth: !useKeys
  }
}

module visionKeys 'modules/visionkeys.bicep' = if (useKeys) {
  name: 'visionkeys'
  params: {
    visionAccountName: cognitive.outputs.visionAccountName
    faceAccountName: cognitive.outputs.faceAccountName
    keyVaultName: keyVault.outputs.keyVaultName
    secretExpiry: secretExpiry
  }
}

module sql 'modules/sql.bicep' = {
  name: 'sql'
  params: {
    location: location
    serverName: names.sqlServer
    databaseName: sqlDatabaseName
    adminObjectId: sqlAdminObjectId
    adminLogin: sqlAdminLogin
    adminPrincipalType: sqlAdminPrincipalType
    clientIpAddresses: sqlClientIpAddresses
    workspaceId: monitoring.outputs.workspaceId
  }
}

module functionApp 'modules/functionapp.bicep' = {
  name: 'functionapp'
  params: {
    location: location
    planName: names.plan
    functionAppName: names.functionApp
    hostingPlan: hostingPlan
    maximumInstanceCount: maximumInstanceCount
    instanceMemoryMB: instanceMemoryMB
    blobEndpoint: storage.outputs.blobEndpoint
    queueEndpoint: storage.outputs.queueEndpoint
    deploymentContainer: deploymentContainer
    appInsightsConnectionString: monitoring.outputs.appInsightsConnectionString
    pipelineSteps: pipelineSteps
    originalRetention: originalRetention
    visionProvider: visionProvider
    visionEndpoint: cognitive.outputs.visionEndpoint
    faceEndpoint: cognitive.outputs.faceEndpoint
    visionAuth: visionAuth
    visionKeySecretUri: useKeys ? visionKeys.outputs.visionKeySecretUri : ''
    faceKeySecretUri: useKeys ? visionKeys.outputs.faceKeySecretUri : ''
    faceListId: faceListId
    sqlServerFqdn: sql.outputs.serverFqdn
    sqlDatabaseName: sql.outputs.databaseName
  }
}

module roles 'modules/roles.bicep' = {
  name: 'roles'
  params: {
    principalId: functionApp.outputs.principalId
    storageAccountName: storage.outputs.storageAccountName
    keyVaultName: keyVault.outputs.keyVaultName
    appInsightsName: monitoring.outputs.appInsightsName
    visionAccountName: cognitive.outputs.visionAccountName
    faceAccountName: cognitive.outputs.faceAccountName
    useKeys: useKeys
  }
}

// Names and endpoints only: nothing here is a secret.
output functionAppName string = functionApp.outputs.functionAppName
output functionAppHostName string = functionApp.outputs.defaultHostName
output functionAppPrincipalId string = functionApp.outputs.principalId
output storageAccountName string = storage.outputs.storageAccountName
output blobEndpoint string = storage.outputs.blobEndpoint
output eventGridSystemTopicName string = storage.outputs.systemTopicName
output keyVaultName string = keyVault.outputs.keyVaultName
output sqlServerFqdn string = sql.outputs.serverFqdn
output sqlDatabaseName string = sql.outputs.databaseName
output visionEndpoint string = cognitive.outputs.visionEndpoint
output faceEndpoint string = cognitive.outputs.faceEndpoint
output appInsightsName string = monitoring.outputs.appInsightsName

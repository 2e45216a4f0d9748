// The Function App (Linux, Python 3.11) on Flex Consumption or Elastic Premium, with a system-assigned
// managed identity, every app setting the pipeline reads, and (networkIsolation) VNet integration.

@description('Azure region of the resources.')
param location string

@description('Name of the hosting plan.')
param planName string

@description('Name of the Function App.')
param functionAppName string

@description('FlexConsumption (default, scales to zero) or ElasticPremium (always-warm instances).')
@allowed([
  'FlexConsumption'
  'ElasticPremium'
])
param hostingPlan string

@description('Upper bound of Flex Consumption instances (limits cost and concurrent SQL connections).')
param maximumInstanceCount int

@description('Memory of each Flex Consumption instance in MB.')
param instanceMemoryMB int

@description('Blob endpoint of the pipeline storage account (https://<account>.blob.core.windows.net/).')
param blobEndpoint string

@description('Queue endpoint of the pipeline storage account.')
param queueEndpoint string

@description('Container that holds the deployment package.')
param deploymentContainer string

@description('Application Insights connection string (not a secret: local auth is disabled on the component).')
param appInsightsConnectionString string

@description('PIPELINE_STEPS: comma-separated step list.')
param pipelineSteps string

@description('ORIGINAL_RETENTION: keep or delete-after-complete.')
param originalRetention string

@description('VISION_PROVIDER: azure, local, or azure with per-step overrides (azure,faces=local,facematch=local).')
param visionProvider string

@description('Computer Vision endpoint.')
param visionEndpoint string

@description('Face endpoint.')
param faceEndpoint string

@description('VISION_AUTH: identity (the app\'s managed identity signs in to Computer Vision and Face) or key.')
@allowed([
  'identity'
  'key'
])
param visionAuth string

@description('Key Vault URI of the Computer Vision key secret (visionAuth=key only).')
param visionKeySecretUri string

@description('Key Vault URI of the Face key secret (visionAuth=key only).')
param faceKeySecretUri string

@description('Face list that face matching keeps its known faces in.')
param faceListId string

@description('Fully qualified domain name of the SQL server.')
param sqlServerFqdn string

@description('Name of the SQL database.')
param sqlDatabaseName string

@description('networkIsolation only: resource id of the subnet the app integrates with, so that its outbound calls reach the private endpoints; empty for none.')
param virtualNetworkSubnetId string = ''

var isFlex = hostingPlan == 'FlexConsumption'
var integrated = !empty(virtualNetworkSubnetId)

// The settings the pipeline's code reads (pipeline.settings.APP_SETTINGS); tests/infra holds the two lists
// together. Identity-based storage: the host and pipeline.storage.Storage both connect with the app's
// managed identity, so no account key or connection string exists anywhere.
var pipelineAppSettings = [
  {
    name: 'AzureWebJobsStorage__blobServiceUri'
    value: blobEndpoint
  }
  {
    name: 'AzureWebJobsStorage__queueServiceUri'
    value: queueEndpoint
  }
  {
    name: 'AzureWebJobsStorage__credential'
    value: 'managedidentity'
  }
  {
    name: 'PIPELINE_STEPS'
    value: pipelineSteps
  }
  {
    // ODBC Driver 18 (preinstalled on the Functions Python images) signs in with the app's managed identity;
    // there is no password to store.
    name: 'SQL_CONNECTION_STRING'
    value: 'Driver={ODBC Driver 18 for SQL Server};Server=tcp:${sqlServerFqdn},1433;Database=${sqlDatabaseName};Authentication=ActiveDirectoryMsi;Encrypt=yes;TrustServerCertificate=no;Connection Timeout=30'
  }
  {
    name: 'VISION_PROVIDER'
    value: visionProvider
  }
  {
    // identity: DefaultAzureCredential (the app's managed identity) for both accounts; key: VISION_KEY, FACE_KEY.
    name: 'VISION_AUTH'
    value: visionAuth
  }
  {
    name: 'VISION_ENDPOINT'
    value: visionEndpoint
  }
  {
    name: 'FACE_ENDPOINT'
    value: faceEndpoint
  }
  {
    name: 'FACE_LIST_ID'
    value: faceListId
  }
  {
    // Requests/s all instances together send to an account (S1/S0: 10/s per account): they share one budget
    // per endpoint in SQL (rate_slots), so this is the account's whole rate. 0 turns pacing off.
    name: 'VISION_RATE_LIMIT'
    value: '10'
  }
  {
    name: 'FACE_RATE_LIMIT'
    value: '10'
  }
  {
    // Images per Face detect call (small images share one grid image); 1 = one image per call.
    name: 'FACE_DETECT_GRID'
    value: '1'
  }
  {
    name: 'ORIGINAL_RETENTION'
    value: originalRetention
  }
  {
    // The open face model, for steps on the local provider (requirements-models.txt deployed with the app).
    name: 'LOCAL_FACE_MODEL'
    value: 'yunet-sface'
  }
  {
    name: 'OCR_LANGUAGES'
    value: 'latin'
  }
  {
    // The open models' converted graphs are cached here: the app's package is read-only, /tmp is not.
    name: 'MODEL_CACHE_DIR'
    value: '/tmp/imaginem-models'
  }
  {
    // The desk's local identity: always empty in Azure, where people sign in with App Service Authentication.
    name: 'DESK_USER'
    value: ''
  }
  {
    name: 'DESK_ROLES'
    value: ''
  }
]

// visionAuth=key only: the account keys, as Key Vault references that the platform resolves with the app's
// identity; the keys are never in the template. With identity there is no key setting at all.
var visionKeyAppSettings = [
  {
    name: 'VISION_KEY'
    value: '@Microsoft.KeyVault(SecretUri=${visionKeySecretUri})'
  }
  {
    name: 'FACE_KEY'
    value: '@Microsoft.KeyVault(SecretUri=${faceKeySecretUri})'
  }
]
var authAppSettings = (visionAuth == 'key') ? visionKeyAppSettings : []

// Settings the platform reads, on every plan.
var platformAppSettings = [
  {
    name: 'APPLICATIONINSIGHTS_CONNECTION_STRING'
    value: appInsightsConnectionString
  }
  {
    // Telemetry is sent with the app's Entra identity (the component accepts nothing else).
    name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING'
    value: 'Authorization=AAD'
  }
]

// Elastic Premium only. Flex Consumption takes runtime and package from functionAppConfig instead and
// rejects these settings. The app runs from a package blob fetched with its managed identity, which removes
// the Azure Files content share and its account-key connection string (WEBSITE_CONTENTAZUREFILECONNECTIONSTRING).
var elasticPremiumAppSettings = [
  {
    name: 'FUNCTIONS_EXTENSION_VERSION'
    value: '~4'
  }
  {
    name: 'FUNCTIONS_WORKER_RUNTIME'
    value: 'python'
  }
  {
    name: 'WEBSITE_RUN_FROM_PACKAGE'
    value: '${blobEndpoint}${deploymentContainer}/imaginem.zip'
  }
]

var flexAppSettings = concat(pipelineAppSettings, authAppSettings, platformAppSettings)
var elasticPremiumAllAppSettings = concat(pipelineAppSettings, authAppSettings, platformAppSettings, elasticPremiumAppSettings)

var flexConsumptionSku = {
  name: 'FC1'
  tier: 'FlexConsumption'
}
var elasticPremiumSku = {
  name: 'EP1'
  tier: 'ElasticPremium'
}

// Flex Consumption: runtime, scale limits, and the blob container the platform deploys the package to,
// reached with the app's managed identity.
var flexFunctionAppConfig = {
  deployment: {
    storage: {
      type: 'blobContainer'
      value: '${blobEndpoint}${deploymentContainer}'
      authentication: {
        type: 'SystemAssignedIdentity'
      }
    }
  }
  scaleAndConcurrency: {
    maximumInstanceCount: maximumInstanceCount
    instanceMemoryMB: instanceMemoryMB
  }
  runtime: {
    name: 'python'
    version: '3.11'
  }
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  kind: isFlex ? 'functionapp' : 'elastic'
  sku: isFlex ? flexConsumptionSku : elasticPremiumSku
  // checkov:skip=CKV_AZURE_225:Zone redundancy needs at least three always-ready instances on Elastic Premium and is not offered for Flex Consumption in every region; a queue-driven batch pipeline tolerates a zonal outage by retrying (messages stay in the zone-redundant queues).
  properties: {
    reserved: true
    maximumElasticWorkerCount: isFlex ? null : 20
  }
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  name: functionAppName
  location: location
  kind: 'functionapp,linux'
  identity: {
    type: 'SystemAssigned'
  }
  // checkov:skip=CKV_AZURE_17:Neither Event Grid's webhook delivery nor the caseworkers' browsers can present a client certificate; the desk is behind Entra sign-in (signin.bicep), machine routes and the webhook need function or system keys, all over TLS 1.2.
  // checkov:skip=CKV_AZURE_222:The app's inbound endpoint stays public: Event Grid delivers blob events to its webhook (Event Grid cannot reach a private endpoint) and caseworkers open the desk from field offices. Sign-in or a key guards every path; with networkIsolation the app's outbound traffic and every data service are private.
  // checkov:skip=CKV_AZURE_213:The platform health check would call /api/health without a function key and mark every instance unhealthy; the platform replaces instances whose host fails.
  // checkov:skip=CKV_AZURE_212:Instances are added and removed by the platform's event-driven scaling; a fixed minimum would only add cost to a batch pipeline.
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    clientCertEnabled: false
    publicNetworkAccess: 'Enabled'
    functionAppConfig: isFlex ? flexFunctionAppConfig : null
    virtualNetworkSubnetId: integrated ? virtualNetworkSubnetId : null
    siteConfig: {
      linuxFxVersion: isFlex ? null : 'Python|3.11'
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      remoteDebuggingEnabled: false
      // Elastic Premium: all outbound traffic through the network (by default only private address ranges
      // go there). Flex Consumption has no such setting.
      vnetRouteAllEnabled: (integrated && !isFlex) ? true : null
      appSettings: isFlex ? flexAppSettings : elasticPremiumAllAppSettings
    }
  }
}

// No FTP and no basic-auth (publishing profile) deployments: publishing uses Entra tokens only.
resource ftpPolicy 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmPolicy 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'scm'
  properties: {
    allow: false
  }
}

output functionAppName string = site.name
output defaultHostName string = site.properties.defaultHostName
output principalId string = site.identity.principalId

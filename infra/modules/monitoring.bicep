// Log Analytics workspace and the workspace-based Application Insights the Function App reports to.

@description('Azure region of the resources.')
param location string

@description('Name of the Log Analytics workspace.')
param workspaceName string

@description('Name of the Application Insights component.')
param appInsightsName string

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: workspaceName
  location: location
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    // 90 days: SQL audit records and storage/Key Vault access logs land here too, and reviewers of an
    // incident need at least a quarter of history.
    retentionInDays: 90
  }
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: appInsightsName
  location: location
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: workspace.id
    IngestionMode: 'LogAnalytics'
    // Telemetry is accepted only from Entra-authenticated senders: the instrumentation key in the connection
    // string alone cannot be used to write (or spoof) telemetry. The Function App authenticates with its
    // managed identity (APPLICATIONINSIGHTS_AUTHENTICATION_STRING) and the Monitoring Metrics Publisher role.
    DisableLocalAuth: true
  }
}

output workspaceId string = workspace.id
output appInsightsName string = appInsights.name
output appInsightsId string = appInsights.id
// Not a secret: with local auth disabled the instrumentation key cannot be used without an Entra token.
output appInsightsConnectionString string = appInsights.properties.ConnectionString

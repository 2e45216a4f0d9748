// Azure SQL logical server (Microsoft Entra authentication only) and the pipeline's database, with auditing
// and Microsoft Defender for SQL alerts. The Function App's identity becomes a database user in the
// post-deployment step (infra/scripts/sql_setup.py): ARM cannot create database users. With networkIsolation
// (main.bicep's default) the server answers only through its private endpoint and has no firewall rules.

@description('Azure region of the resources.')
param location string

@description('Name of the logical SQL server.')
param serverName string

@description('Name of the database.')
param databaseName string

@description('Object id of the Microsoft Entra user or group that administers the server.')
param adminObjectId string

@description('Name of that user (UPN) or group, as shown in Entra ID.')
param adminLogin string

@description('Whether the administrator is a User, a Group or an Application.')
param adminPrincipalType string

@description('Public IPv4 addresses of operators allowed through the server firewall (sqlcmd, db-upgrade); public network access only.')
param clientIpAddresses array

@description('Log Analytics workspace that receives the audit log.')
param workspaceId string

@description('Disabled (networkIsolation, the default): the server answers only through its private endpoint and has no firewall rules. Enabled: public endpoint behind the firewall rules below.')
@allowed([
  'Disabled'
  'Enabled'
])
param publicNetworkAccess string = 'Disabled'

// Firewall rules exist only on the public endpoint; a server without one refuses to create them.
var publicEndpoint = publicNetworkAccess == 'Enabled'

resource server 'Microsoft.Sql/servers@2023-08-01' = {
  name: serverName
  location: location
  properties: {
    minimalTlsVersion: '1.2'
    publicNetworkAccess: publicNetworkAccess
    // No SQL logins at all: no administratorLogin/password exists, so none can leak.
    administrators: {
      administratorType: 'ActiveDirectory'
      azureADOnlyAuthentication: true
      login: adminLogin
      sid: adminObjectId
      principalType: adminPrincipalType
      tenantId: subscription().tenantId
    }
  }
}

// Auditing in two non-overlapping layers, both to Log Analytics (kept 90 days):
// - the server records who signed in (or failed to) and every permission or membership change, for all
//   databases including master;
// - the pipeline database records what was run (auditingSettings on the database below).
resource auditing 'Microsoft.Sql/servers/auditingSettings@2023-08-01' = {
  parent: server
  name: 'default'
  properties: {
    state: 'Enabled'
    isAzureMonitorTargetEnabled: true
    retentionDays: 90
    auditActionsAndGroups: [
      'SUCCESSFUL_DATABASE_AUTHENTICATION_GROUP'
      'FAILED_DATABASE_AUTHENTICATION_GROUP'
      'DATABASE_PERMISSION_CHANGE_GROUP'
      'DATABASE_PRINCIPAL_CHANGE_GROUP'
      'DATABASE_ROLE_MEMBER_CHANGE_GROUP'
    ]
  }
  dependsOn: [
    masterAuditLogs
  ]
}

// Server-level audit records flow through the master database's diagnostic setting. It is a JSON module
// because a Bicep extension resource can only be scoped to a declared resource, and declaring the system
// master database here would make it look like a database this template manages.
module masterAuditLogs 'sql-master-audit-logs.json' = {
  name: 'sql-master-audit-logs'
  params: {
    serverName: server.name
    workspaceId: workspaceId
  }
}

// Microsoft Defender for SQL threat detection for every database on the server, all alert types, mailed to
// the subscription's administrators and owners.
resource threatDetection 'Microsoft.Sql/servers/securityAlertPolicies@2023-08-01' = {
  parent: server
  name: 'Default'
  properties: {
    state: 'Enabled'
    emailAccountAdmins: true
  }
}

// Azure-hosted clients: the Function App's outbound addresses are shared and change, so they cannot be listed.
// This rule opens the network path only; a login still needs an Entra token for a user of this database.
resource allowAzureServices 'Microsoft.Sql/servers/firewallRules@2023-08-01' = if (publicEndpoint) {
  parent: server
  name: 'AllowAllWindowsAzureIps'
  properties: {
    startIpAddress: '0.0.0.0'
    endIpAddress: '0.0.0.0'
  }
}

resource operatorRules 'Microsoft.Sql/servers/firewallRules@2023-08-01' = [
  for (ip, i) in (publicEndpoint ? clientIpAddresses : []): {
    parent: server
    name: 'operator-${i}'
    properties: {
      startIpAddress: ip
      endIpAddress: ip
    }
  }
]

// Serverless General Purpose: pauses after an hour without connections and resumes on the next one (the first
// step that connects then retries, like any transient failure).
resource database 'Microsoft.Sql/servers/databases@2023-08-01' = {
  parent: server
  name: databaseName
  location: location
  // checkov:skip=CKV_AZURE_26:Alerts go to the subscription's administrators and owners (emailAccountAdmins); the template takes no personal e-mail addresses.
  sku: {
    name: 'GP_S_Gen5'
    tier: 'GeneralPurpose'
    family: 'Gen5'
    capacity: 1
  }
  // checkov:skip=CKV_AZURE_27:Enabled by emailAccountAdmins in the databaseThreatDetection child resource below; checkov's Bicep parser does not attach child resources to their parent, so this check cannot see it (the ARM template nests it and passes).
  // checkov:skip=CKV_AZURE_229:Zone-redundant serverless General Purpose is not offered in every region; the database holds results derived from the images, so it can be rebuilt by reprocessing them.
  properties: {
    autoPauseDelay: 60
    minCapacity: json('0.5')
    zoneRedundant: false
  }
}

// What was run against the pipeline database (see the server-level auditing above for sign-ins).
resource databaseAuditing 'Microsoft.Sql/servers/databases/auditingSettings@2023-08-01' = {
  parent: database
  name: 'default'
  properties: {
    state: 'Enabled'
    isAzureMonitorTargetEnabled: true
    retentionDays: 90
    auditActionsAndGroups: [
      'BATCH_COMPLETED_GROUP'
    ]
  }
  dependsOn: [
    databaseAuditLogs
  ]
}

resource databaseAuditLogs 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'sql-audit'
  scope: database
  properties: {
    workspaceId: workspaceId
    logs: [
      {
        category: 'SQLSecurityAuditEvents'
        enabled: true
      }
    ]
  }
}

// Threat detection is also on at server level; the database policy states it where the database is reviewed.
resource databaseThreatDetection 'Microsoft.Sql/servers/databases/securityAlertPolicies@2023-08-01' = {
  parent: database
  name: 'Default'
  properties: {
    state: 'Enabled'
    emailAccountAdmins: true
  }
}

output serverName string = server.name
output serverFqdn string = server.properties.fullyQualifiedDomainName
output databaseName string = database.name

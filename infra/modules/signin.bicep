// App Service Authentication (Easy Auth) with Microsoft Entra ID in front of the Function App.
//
// Every path requires a signed-in user (unauthenticated browsers are redirected to the Entra sign-in page)
// except the paths that machine clients call with a function or system key, listed below. Secure by default:
// a route the code adds later is behind sign-in unless it is added here. The signed-in user reaches the code
// as the X-MS-CLIENT-PRINCIPAL header (base64 JSON, with one claim per Entra app role: viewer, reviewer, admin),
// which Easy Auth sets itself. docs/AZURE.md, "Sign-in to the review desk", has the app registration.

@description('Name of the Function App.')
param functionAppName string

@description('Microsoft Entra tenant whose users sign in.')
param tenantId string

@description('Application (client) id of the review desk\'s app registration.')
param clientId string

// The function-key routes of the query and operator API (authLevel FUNCTION in pipeline/api/routes.py) and
// the host's blob-extension webhook that Event Grid calls with the blobs_extension system key
// (blob-events.bicep). Easy Auth lets these through unauthenticated and the Functions host still refuses any
// request without a valid key. tests/infra/test_signin.py holds this list to the app's own routes.
// A trailing /* matches everything below a path; the desk's pages (/, /batches/..., /images/..., /review,
// /persons..., /desk/...) and the people and review API (/api/reviews, /api/persons...) are not listed.
var keyAuthenticatedPaths = [
  '/api/health'
  '/api/images'
  '/api/images/*'
  '/api/faces/*'
  '/api/batches/*'
  '/api/reprocess'
  '/api/forget'
  '/api/replay-poison'
  '/runtime/webhooks/blobs'
]

resource site 'Microsoft.Web/sites@2024-04-01' existing = {
  name: functionAppName
}

resource signIn 'Microsoft.Web/sites/config@2024-04-01' = {
  // checkov:skip=CKV_AZURE_13:This check reads properties.enabled of the older authsettings resource; authsettingsV2 is switched on by properties.platform.enabled, which CKV_AZURE_56 checks and passes.
  // checkov:skip=CKV_AZURE_63:checkov runs this web-config check (siteConfig httpLoggingEnabled) on every sites/config resource; authsettingsV2 has no such property. Requests are logged by Application Insights.
  // checkov:skip=CKV_AZURE_65:checkov runs this web-config check (detailedErrorLoggingEnabled) on every sites/config resource; authsettingsV2 has no such property.
  parent: site
  // checkov:skip=CKV_AZURE_66:checkov runs this web-config check (requestTracingEnabled) on every sites/config resource; authsettingsV2 has no such property.
  // checkov:skip=CKV_AZURE_88:checkov runs this web-config check (an Azure Files mount) on every sites/config resource; authsettingsV2 has none, and the app mounts no share (no account key exists).
  // checkov:skip=CKV_AZURE_222:checkov reads publicNetworkAccess on every sites/config resource; authsettingsV2 has none. The site's own public endpoint is justified on the site (functionapp.bicep).
  // checkov:skip=CKV_AZURE_80:checkov runs this web-config check (netFrameworkVersion) on every sites/config resource; authsettingsV2 has no such property, and the app runs Python.
  name: 'authsettingsV2'
  properties: {
    platform: {
      enabled: true
    }
    globalValidation: {
      requireAuthentication: true
      unauthenticatedClientAction: 'RedirectToLoginPage'
      redirectToProvider: 'azureactivedirectory'
      excludedPaths: keyAuthenticatedPaths
    }
    identityProviders: {
      azureActiveDirectory: {
        enabled: true
        registration: {
          // No client secret: sign-in returns an ID token only (the app registration issues ID tokens),
          // which is all the desk needs to know who is signed in and with which roles.
          clientId: clientId
          openIdIssuer: '${environment().authentication.loginEndpoint}${tenantId}/v2.0'
        }
        validation: {
          allowedAudiences: [
            clientId
            'api://${clientId}'
          ]
        }
      }
    }
    login: {
      // The desk needs no token of the user's (it calls nothing on their behalf), so none is kept.
      tokenStore: {
        enabled: false
      }
      cookieExpiration: {
        convention: 'FixedTime'
        timeToExpiration: '08:00:00'
      }
      nonce: {
        validateNonce: true
      }
    }
    httpSettings: {
      requireHttps: true
    }
  }
}

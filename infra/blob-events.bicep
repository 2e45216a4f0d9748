// Post-publish step: subscribes the EventGrid-source blob trigger `ingest` to uploads in the images container.
//
// Deploy it after the code is published (docs/AZURE.md, step 7): Event Grid validates the webhook when the
// subscription is created, which only succeeds once the function exists, and the webhook URL needs the host's
// blobs_extension system key, which the Functions host creates at its first start. The key is read here with
// listKeys() at deployment time and handed straight to Event Grid, which keeps the URL's query string
// write-only; it is never a parameter, an output or a file.
//   az deployment group create -g <group> -f infra/blob-events.bicep \
//     -p functionAppName=<output functionAppName> systemTopicName=<output eventGridSystemTopicName>

@description('Name of the Function App (main deployment output functionAppName).')
param functionAppName string

@description('Name of the storage account\'s Event Grid system topic (main deployment output eventGridSystemTopicName).')
param systemTopicName string

resource functionApp 'Microsoft.Web/sites@2024-04-01' existing = {
  name: functionAppName
}

resource systemTopic 'Microsoft.EventGrid/systemTopics@2022-06-15' existing = {
  name: systemTopicName
}

var blobsExtensionKey = listKeys('${functionApp.id}/host/default', '2024-04-01').systemKeys.blobs_extension

resource imagesCreated 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2022-06-15' = {
  parent: systemTopic
  name: 'ingest-images'
  properties: {
    destination: {
      endpointType: 'WebHook'
      properties: {
        // Host.Functions.<name>: the function registered as `ingest` in function_app.py.
        endpointUrl: 'https://${functionApp.properties.defaultHostName}/runtime/webhooks/blobs?functionName=Host.Functions.ingest&code=${blobsExtensionKey}'
        maxEventsPerBatch: 1
        preferredBatchSizeInKilobytes: 64
      }
    }
    eventDeliverySchema: 'EventGridSchema'
    filter: {
      includedEventTypes: [
        'Microsoft.Storage.BlobCreated'
      ]
      // Only uploads to images/ start jobs; the pipeline's own writes to working/, faces/ and claims/ do not.
      subjectBeginsWith: '/blobServices/default/containers/images/'
    }
    retryPolicy: {
      maxDeliveryAttempts: 30
      eventTimeToLiveInMinutes: 1440
    }
  }
}

output eventSubscriptionName string = imagesCreated.name

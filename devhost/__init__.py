"""A local Azure Functions host for this project (Core Tools cannot be installed here).

Run ``python -m devhost`` (see :mod:`devhost.__main__`), or in tests::

    from devhost.azurite import Azurite
    from devhost.host import LocalHost

    with Azurite() as azurite, LocalHost(app, {"AzureWebJobsStorage": azurite.connection_string}, host_json):
        ...

Known differences from the real Azure host, accepted for local use:

* ``authLevel`` is not enforced (like ``func start``); keep the server on loopback.
* Only connection strings work for ``connection`` settings, not identity-based connections.
* Supported bindings: queue, blob, timer and HTTP *triggers* (plus the HTTP response); any other
  binding is a startup error.
* A received queue message is hidden for 30 s (``--message-lease``), not 10 minutes, and renewed at
  half that while it runs, so the messages of a killed host are delivered again 30 s later.
* A queue listener receives no more messages than there are idle worker threads (the real host
  prefetches ``batchSize``), so a killed host only held the messages it was running.
* EventGrid-source blob triggers (the app's ``ingest``) run the path Azure runs — webhook, internal queue
  ``azure-webjobs-blobtrigger-<hostId>``, ``webjobs-blobtrigger-poison`` — but the host also plays Event Grid
  (:mod:`devhost.eventgrid`): the subscription is created at the first start of a host id on the storage
  (Azure: deploying infra/blob-events.bicep), and events come from listing the container every second (Azure:
  pushed by the storage account within seconds). A blob overwritten twice between two listings gives one
  event (Azure: two; the function reads the current blob either way). Event data has the blob's url, eTag,
  blobType, contentType and contentLength, not ``api``, ``requestId`` or ``sequencer``. The webhook accepts
  only the ``blobs_extension`` key (Azure: also the master key) and answers 404 for a ``functionName`` the app
  does not have (Azure: queues it, and the message is dropped later).
* Blob triggers with the default source poll the container with receipts; the scan is a singleton, as on the
  real host, but the scanning host runs the functions itself (Azure: it queues them for every instance), and
  retry counts of failing blobs are kept in memory, so they restart from zero after a restart.
* Log lines never name a blob (the real host's ``New blob detected(...)`` reason does): names are often
  people's names, and an erased image must leave no trace (``pipeline.forget``).
* HTTP: a known route with a method the function does not accept answers 405 (with ``Allow``);
  an HTTP function returning ``None`` answers 204.
* Timers, the blob scan and the Event Grid producer are singletons across hosts of one host id, with the real
  host's blob-lease locks (``azure-webjobs-hosts/locks/<hostId>/...``, 15 s leases); a host retries a lock held
  elsewhere every 2 s (Azure: every minute). Timers have no schedule monitor: occurrences missed while no host
  held the lock are not caught up (``past_due`` is only set when an invocation starts more than 1 s late).
* ``functionTimeout`` is not enforced; ``stop()`` waits ``drain_timeout`` then abandons work.
"""

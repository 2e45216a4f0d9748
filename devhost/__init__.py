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
* Blob triggers poll the container (default every second) whatever their ``source``; with
  ``source=EventGrid`` Azure instead needs an Event Grid subscription. Retry counts of failing
  blobs are kept in memory, so they restart from zero after a restart.
* HTTP: a known route with a method the function does not accept answers 405 (with ``Allow``);
  an HTTP function returning ``None`` answers 204.
* Timers have no schedule monitor: occurrences missed while the host was down are not caught up
  (``past_due`` is only set when an invocation starts more than 1 s late), and there is no
  singleton lock across several local hosts.
* ``functionTimeout`` is not enforced; ``stop()`` waits ``drain_timeout`` then abandons work.
"""

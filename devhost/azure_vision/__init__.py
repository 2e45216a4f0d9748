"""A local server that speaks the parts of Computer Vision v3.2 and Face v1.0 the pipeline calls.

The ``azure`` provider is tested through the real Azure SDKs against this server, with no Azure account.
Answers come from the open models of :class:`pipeline.vision.local.LocalVision` (or any VisionProvider
passed in), in Azure's JSON shapes, with Azure's paths, query parameters, status codes and error bodies:

==========================================================  =========================================
``POST /vision/v3.2/analyze``                               analyze: each visual feature from the
                                                            provider's Analysis (tags, caption,
                                                            categories, objects, adult, colour, image
                                                            type); what it cannot compute is empty
``POST /vision/v3.2/read/analyze``                          Read: 202 + ``Operation-Location``
``GET  /vision/v3.2/read/analyzeResults/{operationId}``     Read result (notStarted/running/succeeded)
``POST /vision/v3.2/ocr``                                   the older synchronous OCR (regions, lines,
                                                            words), which Imaginem's ocr step called
``POST /face/v1.0/detect``                                  faces; their 128-d dlib embeddings are kept
                                                            per faceId for ``faceIdTimeToLive`` (≤ 24 h)
``POST /face/v1.0/findsimilars``                            against a LargeFaceList or a list of faceIds
``PUT|GET|DELETE /face/v1.0/largefacelists/{id}``           create, get, delete a LargeFaceList
``POST /face/v1.0/largefacelists/{id}/train``               training snapshots the list's faces
``GET  /face/v1.0/largefacelists/{id}/training``            training status
``POST /face/v1.0/largefacelists/{id}/persistedfaces``      add a face (octet-stream, targetFace, userData)
``GET /face/v1.0/largefacelists/{id}/persistedfaces``       list faces (``start``, ``top`` <= 1000, by id)
``DELETE /face/v1.0/largefacelists/{id}/persistedfaces/{p}``  remove a face
``GET  /msi/token``                                         the App Service managed identity endpoint
                                                            (when started with an identity header)
==========================================================  =========================================

Find similar compares dlib embeddings by Euclidean distance with the local provider's threshold. A
LargeFaceList is searched as of its last successful training, like Azure's. Face lists live in SQLite under
the data directory, so they survive a restart; faceIds and Read results live in memory (Azure forgets them too).

Every ``/vision`` and ``/face`` request needs ``Ocp-Apim-Subscription-Key`` or ``Authorization: Bearer`` with
a Microsoft Entra ID token from ``/msi/token`` (401 with Azure's body when wrong; keys answer 403 when the
server emulates ``disableLocalAuth``). For testing resilience the server can throttle and fail a share of
requests (``faults``); ``/_admin/...`` reports and changes that (``admin``).

The modules, one concern each: ``plumbing`` (HTTP), ``images`` (decoding and size limits), ``models`` (the open
models' cached answers), ``analysis`` (an Analysis as analyze's JSON), ``vision_routes``, ``face_routes``,
``facelists`` (SQLite), ``identity`` and ``auth`` (Entra tokens, keys), ``faults``, ``admin``, ``server``.

In process: ``with AzureVisionServer(key, data_dir) as server: server.endpoint``; keyless, as the templates
deploy: ``AzureVisionServer(None, data_dir, identity_header=secret, disable_local_auth=True)`` and
``server.identity_environment()`` for the settings. From a shell: ``python -m devhost.azure_vision --port 0
--key K --data DIR`` prints one ready line with the endpoint and serves until interrupted.
"""

from devhost.azure_vision.identity import COGNITIVE_SERVICES_SCOPE, CREDENTIAL_OVERRIDES
from devhost.azure_vision.server import AzureVisionServer

__all__ = ["COGNITIVE_SERVICES_SCOPE", "CREDENTIAL_OVERRIDES", "AzureVisionServer"]

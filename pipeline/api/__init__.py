"""The HTTP API's logic, free of any web framework: validated parameters in, ``(status, JSON body)`` out.

One module per resource (images, faces, batches) and one for the operator actions; the request models and
their error style in :mod:`pipeline.api.params`; the HTTP routes that wrap them in :mod:`pipeline.api.routes`.
"""

from pipeline.api.batches import get_batch
from pipeline.api.faces import get_face_matches
from pipeline.api.images import get_image, list_images

__all__ = ["get_batch", "get_face_matches", "get_image", "list_images"]

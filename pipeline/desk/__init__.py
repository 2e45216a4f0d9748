"""The review desk: web pages where caseworkers follow batches, look at photos and faces, and decide on matches.

Served by the function app itself (:func:`pipeline.desk.routes.desk`, a Blueprint): server-rendered HTML
(:mod:`pipeline.desk.html`, text escaped by construction), one script and one stylesheet of its own, and
pictures streamed from the private containers. Pages read and act through the API's functions
(:mod:`pipeline.api`), so the desk and the API share every query, check and decision.
"""

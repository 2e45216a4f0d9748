"""Vision providers: one interface (:mod:`pipeline.vision.base`), chosen per step by configuration.

``local`` (open models, :mod:`pipeline.vision.local`) and ``azure`` (:mod:`pipeline.vision.azure`). The
runtime builds each provider once per process; steps call the one they are given without knowing which.
"""

"""Imaginem pipeline: contract, configuration, routing, storage, SQL and vision providers."""

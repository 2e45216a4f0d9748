"""Faces beyond detection: the match index (interface, open-model index, LargeFaceList index) and its store."""

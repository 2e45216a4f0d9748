"""The ``azure`` provider: Computer Vision v3.2 and Face v1.0 through the Azure SDKs."""

from pipeline.vision.azure.clients import AzureAccounts
from pipeline.vision.azure.face_list import AzureFaceList
from pipeline.vision.azure.provider import AzureVision

__all__ = ["AzureAccounts", "AzureFaceList", "AzureVision"]

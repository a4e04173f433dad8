"""Audio: clip datasets, keyword-spotting models with a log-mel front-end inside, augmentation.

Registered through the ``compressor`` entry-point group exactly as a third party's package
would be. Only pydantic is imported here; torch and soundfile load when a recipe first uses an
audio plugin.
"""

from __future__ import annotations

from compressor import hookimpl
from compressor.records import DatasetPlugin, ModelPlugin


@hookimpl
def compressor_register_datasets() -> list[DatasetPlugin]:
    """Register the audio datasets."""
    return []


@hookimpl
def compressor_register_models() -> list[ModelPlugin]:
    """Register the keyword-spotting models."""
    return []

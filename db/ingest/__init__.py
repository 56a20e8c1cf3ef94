"""Catalog and interaction ingest: file formats, validation, and the COPY + upsert writer."""

from __future__ import annotations

from db.ingest.pipeline import FORMATS, IngestSummary, ingest_file
from db.ingest.readers import IngestError
from db.ingest.records import ItemRecord, RowError
from db.ingest.validation import Validated, validate_items
from db.ingest.writer import WriteCounts, write_items

__all__ = [
    "FORMATS",
    "IngestError",
    "IngestSummary",
    "ItemRecord",
    "RowError",
    "Validated",
    "WriteCounts",
    "ingest_file",
    "validate_items",
    "write_items",
]

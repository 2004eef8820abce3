"""Content addressing: chunking, packs, the pack index, and the verified object store."""

from snapkit.objects.chunker import Chunker, ChunkerParams, file_hash
from snapkit.objects.store import ObjectStore

__all__ = ["Chunker", "ChunkerParams", "ObjectStore", "file_hash"]

"""Releases: lmsops's loopback registry, publishing images by digest, and the history of what was
deployed (the records that rollback reads)."""

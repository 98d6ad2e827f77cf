"""Label keys lmsops writes and reads on images: one definition each."""

OCI = "org.opencontainers.image"  # the OCI image annotations (title, version, revision, base.name, ...)
REVISION = f"{OCI}.revision"  # the commit an image was built from

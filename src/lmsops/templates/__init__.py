"""The service template: stamping a new service (copier) and updating the stamped services when the
template changes."""

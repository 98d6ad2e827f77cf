"""lmsops: the engine that builds, deploys and checks the LMS platform as code."""

from lmsops.core.errors import CommandError, ConfigError, LmsopsError, PrerequisiteError

__version__ = "0.1.0"

__all__ = ["CommandError", "ConfigError", "LmsopsError", "PrerequisiteError", "__version__"]

"""The LMS catalog service."""

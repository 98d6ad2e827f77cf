"""The LMS enrollment service."""

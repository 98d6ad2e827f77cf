"""LMS catalog: courses and their ordered modules."""

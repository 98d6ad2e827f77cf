"""LMS enrollment: learners in published courses of the catalog."""

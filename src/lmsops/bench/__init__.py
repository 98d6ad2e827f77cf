"""`nox -s bench`: every speed and size goal as a ratio against a baseline run side by side; report.py
is the entry point. throwaway.py makes the throwaway secrets the bench and the tests deploy with."""

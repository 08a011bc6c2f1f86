"""The city platform and 12345 hotline simulator (see app.py)."""

"""Helpers shared by the tests: databases, catalogs, the API and the CLI (no tests here)."""

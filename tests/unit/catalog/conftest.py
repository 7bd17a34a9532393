"""Catalog tests read the project's own files in tests/fixtures; the third-party corpus is
the conformance run's alone (docs/conformance.md)."""

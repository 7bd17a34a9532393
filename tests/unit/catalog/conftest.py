"""Catalog tests read real public files from ../shared/corpus (see its SOURCES.md)."""

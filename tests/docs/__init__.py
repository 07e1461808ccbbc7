"""Tests that keep the documentation, its snippets and the examples honest."""

"""pytest fixtures for the bundled collector (registered through the ``pytest11`` entry point)."""

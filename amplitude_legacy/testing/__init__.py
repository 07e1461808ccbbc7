"""A local Amplitude-compatible collector for tests, examples and offline use."""

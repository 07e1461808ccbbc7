"""The collector's live event debugger in a real headless Chromium, driven by Selenium."""

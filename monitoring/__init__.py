"""tldops monitoring package."""

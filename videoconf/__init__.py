"""tldops videoconf package."""

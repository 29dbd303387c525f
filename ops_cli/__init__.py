"""tldops ops_cli package."""

"""tldops playbooks package."""

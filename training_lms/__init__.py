"""tldops training_lms package."""

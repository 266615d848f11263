"""The HR push API: an HR system creates, updates and deactivates learners with a key holding ``learners:write``."""

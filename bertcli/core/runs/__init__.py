"""A run on disk, read as JSON only: its trainer states, checkpoints, manifest and what they say."""

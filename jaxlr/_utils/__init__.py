"""The shared foundation below every layer: argument validation and tree helpers (private)."""

"""The embedded default corpus (filled in below)."""
EMBEDDED_BUILDERS: list = []

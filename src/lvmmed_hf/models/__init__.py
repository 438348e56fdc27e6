"""LVM-Med models. Importing this module registers the Auto classes."""

__all__: list[str] = []

"""Shared parsing of real dataset layouts, used by several source builders (``dataset_scripts/``).

One module per family of layouts (e.g. :mod:`.images` for 2D image datasets: class folders,
CSV label tables, list names with class prefixes). Library code, tested with the builders.
"""

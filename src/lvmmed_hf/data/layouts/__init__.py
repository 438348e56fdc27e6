"""Parsing of real dataset layouts shared by several source builders (``dataset_scripts/``): one
module per family of layouts (:mod:`.images`, :mod:`.tcia`, :mod:`.volumes_sources`)."""

"""Sub-commands of the ``lvmmed`` CLI (see ``lvmmed_hf.cli``)."""

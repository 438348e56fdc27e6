"""lvmmed_hf.training"""

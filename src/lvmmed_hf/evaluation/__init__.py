"""lvmmed_hf.evaluation"""

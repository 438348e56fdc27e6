"""lvmmed_hf.data"""

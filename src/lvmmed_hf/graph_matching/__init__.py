"""lvmmed_hf.graph_matching"""

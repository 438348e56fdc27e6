"""Downstream recipes: classification, segmentation (U-Net, UperNet, box-prompted SAM) and detection
with LVM-Med backbones. The runnable entry points are in ``training/``; the logic lives here."""

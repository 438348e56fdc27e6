"""Train an LVM-Med backbone for semantic segmentation (U-Net as the paper, or UperNet), Dice + CE loss.

    accelerate launch training/finetune_segmentation.py --architecture unet \
        --backbone path/to/lvmmed_resnet --image_dir data/images --mask_dir data/masks \
        --num_labels 2 --image_size 224 --output_dir out/seg --num_train_epochs 50 --learning_rate 1e-4

Masks hold a class index per pixel. Files named <volume>_<slice>.png (or a dataset with volume_id
and slice_index columns) are also scored as 3D volumes. Logic: lvmmed_hf.downstream.segmentation.
"""

import logging

from transformers import HfArgumentParser, TrainingArguments

from lvmmed_hf.downstream.segmentation import SegmentationArguments, run_segmentation

if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args, training_args = HfArgumentParser(
        (SegmentationArguments, TrainingArguments)
    ).parse_args_into_dataclasses()
    run_segmentation(args, training_args)

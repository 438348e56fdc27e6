"""Box-prompted segmentation: train SAM's mask decoder on top of the (frozen) LVM-Med ViT image encoder.

    accelerate launch training/finetune_sam.py --backbone path/to/lvmmed_vit \
        --image_dir data/images --mask_dir data/masks --image_size 1024 --box_jitter 20 \
        --output_dir out/sam --num_train_epochs 20 --learning_rate 1e-4 --per_device_train_batch_size 2

Writes a stock transformers SamModel folder. Logic: lvmmed_hf.downstream.sam.
"""

import logging

from transformers import HfArgumentParser, TrainingArguments

from lvmmed_hf.downstream.sam import SamArguments, run_sam

if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args, training_args = HfArgumentParser((SamArguments, TrainingArguments)).parse_args_into_dataclasses()
    run_sam(args, training_args)

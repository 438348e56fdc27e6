"""Object detection with the LVM-Med CNN as the backbone of (Conditional) DETR, evaluated with VOC mAP@0.5.

    accelerate launch training/finetune_detection.py --backbone path/to/lvmmed_resnet \
        --annotations_file data/train.json --image_dir data/images --image_size 512 \
        --output_dir out/det --num_train_epochs 50 --learning_rate 1e-4

Logic: lvmmed_hf.downstream.detection.
"""

import logging

from transformers import HfArgumentParser, TrainingArguments

from lvmmed_hf.downstream.detection import DetectionArguments, run_detection

if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args, training_args = HfArgumentParser(
        (DetectionArguments, TrainingArguments)
    ).parse_args_into_dataclasses()
    run_detection(args, training_args)

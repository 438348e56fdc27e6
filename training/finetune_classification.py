"""Fine-tune or linearly evaluate an LVM-Med backbone for image classification.

    accelerate launch training/finetune_classification.py \
        --backbone path/to/lvmmed_resnet --image_folder data/brain_mri \
        --freeze_backbone --output_dir out/cls --num_train_epochs 20 --learning_rate 1e-3

See docs/downstream.md for every option; logic in lvmmed_hf.downstream.classification.
"""

import logging

from transformers import HfArgumentParser, TrainingArguments

from lvmmed_hf.downstream.classification import ClassificationArguments, run_classification

if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args, training_args = HfArgumentParser(
        (ClassificationArguments, TrainingArguments)
    ).parse_args_into_dataclasses()
    run_classification(args, training_args)

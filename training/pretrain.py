#!/usr/bin/env python
"""LVM-Med graph-matching pretraining.

    python training/pretrain.py --embedded --output_dir out --model_preset resnet50 --max_steps 1000
    torchrun --nproc_per_node 8 training/pretrain.py ...
    accelerate launch --config_file training/accelerate_config.yaml training/pretrain.py ...
    accelerate launch --config_file training/accelerate_config_fsdp.yaml training/pretrain.py ...

Every option: ``python training/pretrain.py --help``; guide: docs/pretraining.md.
"""

import logging
import sys

from transformers import HfArgumentParser

from lvmmed_hf.graph_matching.loss import GraphMatchingLossConfig
from lvmmed_hf.training.pretraining import (
    DataArguments,
    ModelArguments,
    PretrainingArguments,
    run_pretraining,
    validate_arguments,
)


def main(argv=None) -> int:
    # the loss options are the fields of the loss config itself (declared once)
    parser = HfArgumentParser((ModelArguments, DataArguments, GraphMatchingLossConfig, PretrainingArguments))
    try:  # expected input errors: one message, exit code 2 (run_pretraining checks again)
        # the dataclasses validate their own fields on construction (e.g. a negative gumbel_scale)
        if argv is None and len(sys.argv) == 2 and sys.argv[1].endswith((".json", ".yaml", ".yml")):
            args = (
                parser.parse_yaml_file(sys.argv[1])
                if not sys.argv[1].endswith(".json")
                else parser.parse_json_file(sys.argv[1])
            )
        else:
            args = parser.parse_args_into_dataclasses(args=argv)
        validate_arguments(*args)
    except (ValueError, FileNotFoundError) as err:
        parser.error(str(err))
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)
    run_pretraining(*args)
    return 0


if __name__ == "__main__":
    sys.exit(main())

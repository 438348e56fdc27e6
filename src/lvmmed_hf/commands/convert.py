"""``lvmmed convert``: the authors' released checkpoints -> a Hugging Face folder."""

from __future__ import annotations

import argparse
import json
import logging

logger = logging.getLogger(__name__)

_OPTIONS = ("family", "allow_partial", "allow_nonfinite", "image_size", "export")


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "convert",
        help="convert lvmmed_resnet.torch / lvmmed_vit.pth into a Hugging Face model folder",
        description=(
            "Read an LVM-Med checkpoint (pickle, loaded with weights_only=True; or safetensors), check "
            "its structure, report missing and unexpected keys, and write config.json, "
            "model.safetensors, preprocessor_config.json and a model card. Nothing is written when "
            "the checkpoint is refused."
        ),
    )
    parser.add_argument(
        "checkpoint", help="path to lvmmed_resnet.torch, lvmmed_vit.pth or a compatible state dict"
    )
    parser.add_argument("output_dir", help="folder to write")
    parser.add_argument(
        "--family", choices=("cnn", "vit"), default=None, help="expected architecture (default: detect)"
    )
    parser.add_argument(
        "--export",
        choices=("native", "stock", "remote", "timm", "torchvision"),
        default="native",
        help="native: lvmmed_hf classes; stock: transformers ResNetModel/SamVisionModel + "
        "ViTImageProcessor; remote: our classes plus their code for trust_remote_code=True; "
        "timm / torchvision (ResNets): the state dict timm.create_model('resnet50') and "
        "torchvision's resnet50() load strictly",
    )
    parser.add_argument(
        "--allow-partial", action="store_true", help="write the folder even if keys are missing/unexpected"
    )
    parser.add_argument(
        "--allow-nonfinite", action="store_true", help="convert even if some weights are NaN or infinite"
    )
    parser.add_argument(
        "--image-size",
        type=int,
        default=None,
        help="image processor size in pixels (default 224; the stock ViT export: its native size)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from lvmmed_hf.models.conversion import convert_checkpoint

    report = convert_checkpoint(
        args.checkpoint, args.output_dir, **{name: getattr(args, name) for name in _OPTIONS}
    )
    logger.info("Conversion report: %s", json.dumps(report.to_dict()))
    return 0

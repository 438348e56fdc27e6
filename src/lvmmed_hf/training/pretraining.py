"""Graph-matching pretraining as a library call: arguments, data, model, Trainer, backbone export.

``training/pretrain.py`` parses these dataclasses with ``HfArgumentParser`` and calls
:func:`run_pretraining`; the same code runs under ``python``, ``torchrun`` and ``accelerate launch``.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
from transformers import TrainingArguments, set_seed

from ..graph_matching.loss import GraphMatchingLossConfig
from .collator import GraphMatchingCollator
from .trainer import GraphMatchingTrainer
from .views import TwoViewAugmentation, ViewAugmentationConfig

logger = logging.getLogger(__name__)

TINY_CNN = dict(embedding_size=8, hidden_sizes=[8, 16, 32, 64], depths=[1, 1, 1, 1], layer_type="basic")
SMALL_CNN = dict(embedding_size=16, hidden_sizes=[16, 32, 64, 128], depths=[1, 1, 1, 1], layer_type="basic")
PRESETS = {
    "resnet50": ("cnn", {}),
    "resnet18": ("cnn", dict(hidden_sizes=[64, 128, 256, 512], depths=[2, 2, 2, 2], layer_type="basic")),
    "tiny_cnn": ("cnn", TINY_CNN),
    "small_cnn": ("cnn", SMALL_CNN),
    "vit_b": ("vit", dict(image_size=224)),
    "tiny_vit": (
        "vit",
        dict(
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            mlp_dim=64,
            image_size=64,
            patch_size=8,
            window_size=4,
            global_attn_indexes=[1],
        ),
    ),
}


@dataclass
class ModelArguments:
    model_preset: str = field(
        default="resnet50", metadata={"help": f"architecture when starting from scratch: {sorted(PRESETS)}"}
    )
    model_name_or_path: str | None = field(
        default=None,
        metadata={
            "help": "local folder of an LvmMed*Model / *ForPretraining to start from (e.g. converted ImageNet R50 or SAM ViT-B)"
        },
    )
    projection_dim: int = field(default=128, metadata={"help": "size of z (paper: 128)"})
    projector_hidden_sizes: list[int] = field(
        default_factory=list, metadata={"help": "empty = Linear projector; e.g. 2048 = MLP"}
    )
    sync_batchnorm: bool = field(
        default=False, metadata={"help": "convert BatchNorm to SyncBatchNorm under data parallelism (GPU)"}
    )


@dataclass
class DataArguments:
    embedded: bool = field(
        default=False,
        metadata={"help": "train on the embedded corpus (images shipped in installed packages)"},
    )
    embedded_dir: str | None = field(
        default=None,
        metadata={"help": "where the embedded corpus is prepared (default: <output_dir>/../embedded_corpus)"},
    )
    dataset_dir: str | None = field(
        default=None, metadata={"help": "prepared corpus folder (lvmmed prepare)"}
    )
    sources: list[str] = field(
        default_factory=list, metadata={"help": "sources of --dataset_dir to use (default: all)"}
    )
    mixture_weights: str = field(
        default="modality_balanced", metadata={"help": "weights of the source mixture"}
    )
    image_column: str = "image"
    min_image_size: int = field(
        default=32, metadata={"help": "drop images whose shorter side is below this (px); 0 keeps all"}
    )
    max_image_size: int = field(default=512, metadata={"help": "longer side cap before cropping (px)"})
    max_train_samples: int | None = None
    view_size: int = field(default=224, metadata={"help": "side of the views (px)"})
    crop_scale_min: float = 0.2
    view_augmentation: str = field(
        default="paper",
        metadata={
            "help": "photometric view augmentation: 'paper' (VICRegL, as the paper) or 'medical' (no hue/saturation/grayscale, milder intensity jitter, blur scaled to the view size)"
        },
    )
    deterministic_views: bool = field(
        default=False,
        metadata={"help": "whole-image views, no flip or photometric change (debugging, equivalence tests)"},
    )
    views_on_device: bool = field(
        default=False, metadata={"help": "collate raw images and make the views on the training device"}
    )
    shuffle: bool = field(default=True, metadata={"help": "shuffle the training set every epoch"})


@dataclass
class GraphMatchingArguments:
    """Command-line mirror of :class:`~lvmmed_hf.graph_matching.GraphMatchingLossConfig`."""

    graph_size: int = 16
    k: int = 5
    alpha: float = 0.8
    blackbox_lambda: float = 80.0
    gumbel: bool = True
    gumbel_scale: float = 1.0
    second_order: bool = True
    message_passing: bool = True
    local_similarity: bool = True
    margin: float = 0.0
    gamma: int = 20
    solver: str = "quadratic"
    lap_backend: str = "scipy"
    gcn_hidden_dim: int = 128
    gcn_layers: int = 2
    gcn_residual: bool = False

    def to_loss_config(self, embedding_dim: int) -> GraphMatchingLossConfig:
        return GraphMatchingLossConfig(embedding_dim=embedding_dim, **dataclasses.asdict(self))


@dataclass
class PretrainingArguments(TrainingArguments):
    """TrainingArguments with the paper's recipe as defaults (Adam = AdamW without weight decay,
    lr 2e-3 halved four times) and the settings a self-supervised batch needs."""

    learning_rate: float = 2e-3
    weight_decay: float = 0.0
    optim: str = "adamw_torch"
    lr_halvings: int = field(
        default=4,
        metadata={"help": "halve the lr this many times in equal phases; -1 = use lr_scheduler_type"},
    )
    remove_unused_columns: bool = False
    ddp_find_unused_parameters: bool | None = False
    dataloader_drop_last: bool = True
    gpu_monitor: bool = True
    per_device_train_batch_size: int = 64
    logging_steps: float = 10
    save_strategy: str = "steps"
    report_to: None | str | list[str] = "none"

    def __post_init__(self):
        # No labels: the loss comes from the model output (evaluate() takes the loss path too).
        if self.label_names is None:
            self.label_names = []
        super().__post_init__()


def build_model(model_args: ModelArguments, gm_args: GraphMatchingArguments):
    """A ``LvmMed*ForPretraining`` from a preset or a local model folder."""
    from ..models.configuration_lvmmed_cnn import LvmMedCnnConfig
    from ..models.configuration_lvmmed_vit import LvmMedViTConfig
    from ..models.modeling_lvmmed_pretraining import LvmMedCnnForPretraining, LvmMedViTForPretraining

    head_options = dict(
        projection_dim=model_args.projection_dim,
        projector_hidden_sizes=list(model_args.projector_hidden_sizes),
        graph_matching=gm_args.to_loss_config(model_args.projection_dim).to_dict(),
    )
    if model_args.model_name_or_path:
        from transformers import AutoConfig

        config = AutoConfig.from_pretrained(model_args.model_name_or_path)
        for key, value in head_options.items():
            setattr(config, key, value)
        cls = LvmMedCnnForPretraining if config.model_type == "lvmmed_cnn" else LvmMedViTForPretraining
        # The backbone loads from a bare model or a pretraining folder alike (base_model_prefix).
        return cls.from_pretrained(model_args.model_name_or_path, config=config)
    if model_args.model_preset not in PRESETS:
        raise ValueError(
            f"unknown model_preset {model_args.model_preset!r}; expected one of {sorted(PRESETS)}"
        )
    family, kwargs = PRESETS[model_args.model_preset]
    if family == "cnn":
        return LvmMedCnnForPretraining(LvmMedCnnConfig(**kwargs, **head_options))
    return LvmMedViTForPretraining(LvmMedViTConfig(**kwargs, **head_options))


def load_training_data(data_args: DataArguments, training_args: TrainingArguments):
    """The training ``datasets.Dataset`` (embedded corpus or a prepared corpus folder)."""
    if data_args.embedded == bool(data_args.dataset_dir):
        raise ValueError("give exactly one data source: --embedded or --dataset_dir")
    # The main process prepares and filters first (caches); the others then read its results.
    with training_args.main_process_first(desc="prepare training data"):
        if data_args.embedded:
            from ..data.embedded import load_embedded, prepare_embedded

            out = Path(data_args.embedded_dir or Path(training_args.output_dir).parent / "embedded_corpus")
            prepare_embedded(out)
            dataset = load_embedded(out)
        else:
            from ..data.mixture import load_mixture

            if not Path(data_args.dataset_dir).is_dir():
                raise FileNotFoundError(
                    f"--dataset_dir {data_args.dataset_dir} is not a folder (run `lvmmed prepare` first)"
                )
            dataset = load_mixture(
                data_args.dataset_dir,
                data_args.sources or None,
                weights=data_args.mixture_weights,
                seed=training_args.seed,
                streaming=False,
            )
        if data_args.min_image_size > 0:
            column, minimum = data_args.image_column, data_args.min_image_size
            before = len(dataset)
            dataset = dataset.filter(lambda row: min(row[column].size) >= minimum)
            logger.info("kept %d of %d images with a shorter side >= %d px", len(dataset), before, minimum)
    if data_args.max_train_samples is not None:
        # a seeded random subset: the corpus is ordered by source, its head is one modality
        subset = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(training_args.seed))
        dataset = dataset.select(sorted(subset[: data_args.max_train_samples].tolist()))
    return dataset


def view_config(data_args: DataArguments) -> ViewAugmentationConfig:
    if data_args.deterministic_views:
        return ViewAugmentationConfig.deterministic(data_args.view_size)
    if data_args.view_augmentation == "medical":
        return ViewAugmentationConfig.medical(data_args.view_size, data_args.crop_scale_min)
    if data_args.view_augmentation != "paper":
        raise ValueError(
            f"view_augmentation must be 'paper' or 'medical', got {data_args.view_augmentation!r}"
        )
    return ViewAugmentationConfig(size=data_args.view_size, scale=(data_args.crop_scale_min, 1.0))


class _SequentialTrainer(GraphMatchingTrainer):
    """No shuffling: the i-th batch is the i-th slice of the dataset (equivalence tests)."""

    def _get_train_sampler(self, *args, **kwargs):
        return torch.utils.data.SequentialSampler(self.train_dataset)


def run_pretraining(
    model_args: ModelArguments,
    data_args: DataArguments,
    gm_args: GraphMatchingArguments,
    training_args: PretrainingArguments,
    callbacks: list | None = None,
) -> GraphMatchingTrainer:
    """Pretrain, then write ``<output_dir>/backbone``: the bare backbone (``save_pretrained``) and
    an ``LvmMedImageProcessor``, loadable with ``AutoModel.from_pretrained``."""
    from ..models.image_processing_lvmmed import LvmMedImageProcessor

    if training_args.per_device_train_batch_size < gm_args.graph_size:
        raise ValueError(
            f"per_device_train_batch_size={training_args.per_device_train_batch_size} is smaller than one graph "
            f"(graph_size={gm_args.graph_size}): each process builds its graphs from its own local batch"
        )
    # Seed before building: every process (and a resumed run) starts from the same weights.
    set_seed(training_args.seed)
    model = build_model(model_args, gm_args)
    if model_args.sync_batchnorm and training_args.world_size > 1:
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    dataset = load_training_data(data_args, training_args)
    augmentation = TwoViewAugmentation(view_config(data_args))
    collator = GraphMatchingCollator(
        augmentation,
        image_column=data_args.image_column,
        max_size=data_args.max_image_size,
        on_device=data_args.views_on_device,
    )
    trainer_cls = GraphMatchingTrainer if data_args.shuffle else _SequentialTrainer
    trainer = trainer_cls(
        model=model,
        args=training_args,
        train_dataset=dataset,
        data_collator=collator,
        view_augmentation=augmentation,
        lr_halvings=None if training_args.lr_halvings < 0 else training_args.lr_halvings,
        gpu_monitor=training_args.gpu_monitor,
        callbacks=callbacks,
    )
    if any(getattr(cb, "shows_progress", False) for cb in callbacks or ()):
        # A caller's callback shows progress and the latest logs itself: drop the Trainer's
        # printer / progress bar, which would print every log dict under it.
        from transformers.trainer_callback import PrinterCallback, ProgressCallback

        trainer.remove_callback(PrinterCallback)
        trainer.remove_callback(ProgressCallback)
    resume = training_args.resume_from_checkpoint
    if isinstance(resume, str) and resume.lower() in ("true", "1", "yes"):
        resume = True
    trainer.train(resume_from_checkpoint=resume)
    if trainer.is_world_process_zero():
        trainer.save_model(training_args.output_dir)
        backbone_dir = os.path.join(training_args.output_dir, "backbone")
        base = trainer.accelerator.unwrap_model(trainer.model).lvmmed
        base.save_pretrained(backbone_dir)
        LvmMedImageProcessor(
            size={"height": data_args.view_size, "width": data_args.view_size}
        ).save_pretrained(backbone_dir)
        logger.info("backbone written to %s", backbone_dir)
    return trainer


__all__ = [
    "ModelArguments",
    "DataArguments",
    "GraphMatchingArguments",
    "PretrainingArguments",
    "build_model",
    "load_training_data",
    "run_pretraining",
    "PRESETS",
]

"""Graph-matching pretraining as a library call (``training/pretrain.py`` parses these dataclasses
with ``HfArgumentParser``): arguments, data, model, Trainer, backbone export."""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import safe_open
from transformers import TrainingArguments, set_seed

from ..graph_matching.loss import GraphMatchingLossConfig
from ..models.presets import PRESETS, get_preset, is_preset
from .collator import GraphMatchingCollator, resolve_views_on_device
from .trainer import GraphMatchingTrainer
from .views import TwoViewAugmentation, ViewAugmentationConfig

logger = logging.getLogger(__name__)
_TRUE, _FALSE = ("true", "1", "yes"), ("false", "0", "no")  # --resume_from_checkpoint spellings

#: The loss options are the loss config's own fields; the name is kept for earlier code.
GraphMatchingArguments = GraphMatchingLossConfig


def _option(default, help_text: str):
    """A field with its command-line help (``HfArgumentParser`` reads it)."""
    return field(default=default, metadata={"help": help_text})


@dataclass
class ModelArguments:
    model_preset: str = _option(
        "resnet50", f"architecture when starting from scratch: {sorted(PRESETS)} ('-' and '_' are equivalent)"
    )
    model_name_or_path: str | None = _option(
        None,
        "local folder of an LvmMed*Model / *ForPretraining to start from (e.g. converted ImageNet R50 or "
        "SAM ViT-B)",
    )
    projection_dim: int | None = _option(None, "size of z (paper: 128); default: --embedding_dim")
    projector_hidden_sizes: list[int] = field(
        default_factory=list, metadata={"help": "empty = Linear projector; e.g. 2048 = MLP"}
    )
    sync_batchnorm: bool = _option(False, "convert BatchNorm to SyncBatchNorm under data parallelism (GPU)")


@dataclass
class DataArguments:
    embedded: bool = _option(False, "train on the embedded corpus (images shipped in installed packages)")
    embedded_dir: str | None = _option(
        None, "where the embedded corpus is prepared (default: <output_dir>/../embedded_corpus)"
    )
    dataset_dir: str | None = _option(None, "prepared corpus folder (lvmmed prepare)")
    sources: list[str] = field(
        default_factory=list, metadata={"help": "sources of --dataset_dir to use (default: all)"}
    )
    mixture_weights: str = _option("modality_balanced", "weights of the source mixture")
    image_column: str = "image"
    min_image_size: int = _option(
        32,
        "drop images whose shorter side is below this (px; read from the corpus' height/width columns); "
        "0 keeps all",
    )
    max_image_size: int = _option(512, "longer side cap before cropping (px)")
    max_train_samples: int | None = None
    view_size: int = _option(224, "side of the views (px)")
    crop_scale_min: float = 0.2
    view_augmentation: str = _option(
        "paper",
        "photometric view augmentation: 'paper' (VICRegL, as the paper) or 'medical' (no "
        "hue/saturation/grayscale, milder intensity jitter, blur scaled to the view size)",
    )
    deterministic_views: bool = _option(
        False, "whole-image views, no flip or photometric change (debugging, equivalence tests)"
    )
    views_on_device: bool | None = _option(
        None,
        "collate raw images and make the views on the training device (default: on for a CUDA device, "
        "else in the DataLoader)",
    )
    shuffle: bool = _option(
        True, "shuffle the training set every epoch (False = --train_sampling_strategy sequential)"
    )


@dataclass
class PretrainingArguments(TrainingArguments):
    """TrainingArguments with the paper's recipe as defaults (Adam = AdamW without weight decay,
    lr 2e-3 halved four times) and the settings a self-supervised batch needs."""

    learning_rate: float = 2e-3
    weight_decay: float = 0.0
    optim: str = "adamw_torch"
    lr_halvings: int = _option(4, "halve the lr this many times in equal phases; -1 = use lr_scheduler_type")
    remove_unused_columns: bool = False
    ddp_find_unused_parameters: bool | None = False
    dataloader_drop_last: bool = True
    # True would read the loss on the host every step; GraphMatchingTrainer checks it at logging steps
    logging_nan_inf_filter: bool = False
    gpu_monitor: bool = True
    per_device_train_batch_size: int = 64
    logging_steps: float = 10
    save_strategy: str = "steps"
    report_to: None | str | list[str] = "none"

    def __post_init__(self):
        # No labels: the loss comes from the model output (evaluate() takes the loss path too).
        self.label_names = self.label_names or []
        super().__post_init__()


def validate_arguments(
    model_args: ModelArguments,
    data_args: DataArguments,
    gm_args: GraphMatchingLossConfig,
    training_args: TrainingArguments,
) -> None:
    """Check every option before any work; the ``ValueError`` lists every problem."""
    model, data, gm, train = model_args, data_args, gm_args, training_args
    problems: list[str] = []

    def need(ok: bool, message: str) -> None:
        if not ok:
            problems.append(message)

    path, preset = model.model_name_or_path, model.model_preset
    if path:
        need(
            (Path(path) / "config.json").is_file(),
            f"--model_name_or_path {path}: not a folder with a config.json",
        )
    else:
        need(is_preset(preset), f"--model_preset {preset!r}: expected one of {sorted(PRESETS)}")
    dim = model.projection_dim
    need(dim is None or dim >= 1, f"--projection_dim must be >= 1, got {dim}")
    hidden = model.projector_hidden_sizes
    need(all(int(h) >= 1 for h in hidden), f"--projector_hidden_sizes must be positive, got {hidden}")
    need(
        dim is None or gm.embedding_dim in (GraphMatchingLossConfig().embedding_dim, dim),
        f"--projection_dim {dim} and --embedding_dim {gm.embedding_dim} disagree (both are the size of z: "
        "give one)",
    )
    folder = data.dataset_dir
    need(data.embedded != bool(folder), "give exactly one data source: --embedded or --dataset_dir")
    if folder:
        need(Path(folder).is_dir(), f"--dataset_dir {folder} is not a folder (run `lvmmed prepare` first)")
    need(data.min_image_size >= 0, f"--min_image_size must be >= 0, got {data.min_image_size}")
    need(data.max_image_size >= 1, f"--max_image_size must be >= 1, got {data.max_image_size}")
    need(data.view_size >= 8, f"--view_size must be >= 8 px, got {data.view_size}")
    need(0.0 < data.crop_scale_min <= 1.0, f"--crop_scale_min must lie in (0, 1], got {data.crop_scale_min}")
    samples = data.max_train_samples
    need(samples is None or samples >= 1, f"--max_train_samples must be >= 1, got {samples}")
    views = data.view_augmentation
    need(views in ("paper", "medical"), f"--view_augmentation must be 'paper' or 'medical', got {views!r}")
    # loss (the config checks itself when built; these catch values set afterwards, and inf)
    need(gm.graph_size >= 2, f"--graph_size must be >= 2, got {gm.graph_size}")
    need(1 <= gm.k < gm.graph_size, f"--k must satisfy 1 <= k < graph_size ({gm.graph_size}), got {gm.k}")
    need(0.0 <= gm.alpha <= 1.0, f"--alpha must lie in [0, 1], got {gm.alpha}")
    lam = gm.blackbox_lambda
    need(math.isfinite(lam) and lam > 0, f"--blackbox_lambda must be a positive number, got {lam}")
    scale = gm.gumbel_scale
    need(math.isfinite(scale) and scale >= 0, f"--gumbel_scale must be >= 0, got {scale}")
    need(math.isfinite(gm.margin) and gm.margin >= 0, f"--margin must be >= 0, got {gm.margin}")
    need(gm.gamma >= 1, f"--gamma must be >= 1, got {gm.gamma}")
    need(gm.gcn_hidden_dim >= 1, f"--gcn_hidden_dim must be >= 1, got {gm.gcn_hidden_dim}")
    need(gm.gcn_layers >= 1, f"--gcn_layers must be >= 1, got {gm.gcn_layers}")
    batch = train.per_device_train_batch_size
    need(
        batch >= gm.graph_size,
        f"per_device_train_batch_size={batch} is smaller than one graph (graph_size={gm.graph_size}): "
        "each process builds its graphs from its own local batch",
    )
    halvings = getattr(train, "lr_halvings", -1)
    need(halvings >= -1, f"--lr_halvings must be >= 0 (or -1: lr_scheduler_type), got {halvings}")
    need(train.learning_rate > 0, f"--learning_rate must be positive, got {train.learning_rate}")
    out = train.output_dir
    need(not Path(out).is_file(), f"--output_dir {out} is a file, expected a folder")
    resume = train.resume_from_checkpoint
    if isinstance(resume, str) and resume.lower() not in _TRUE + _FALSE:
        need(Path(resume).is_dir(), f"--resume_from_checkpoint {resume}: no such checkpoint folder")
    if problems:
        raise ValueError("invalid pretraining options:\n  - " + "\n  - ".join(problems))
    # the solver name and the remaining loss options: the loss validates them when built (cheap)
    from ..graph_matching.loss import GraphMatchingLoss

    GraphMatchingLoss(_loss_config(model, gm))


def _loss_config(model_args: ModelArguments, gm_args: GraphMatchingLossConfig) -> GraphMatchingLossConfig:
    if model_args.projection_dim is None:
        return gm_args
    return dataclasses.replace(gm_args, embedding_dim=int(model_args.projection_dim))


def build_model(model_args: ModelArguments, gm_args: GraphMatchingLossConfig):
    """A ``LvmMed*ForPretraining`` (preset or folder) with the loss options in ``config.graph_matching``."""
    from ..models.modeling_lvmmed_pretraining import LvmMedCnnForPretraining, LvmMedViTForPretraining
    from ..models.presets import preset_config

    loss_config = _loss_config(model_args, gm_args)
    head_options = dict(
        projection_dim=loss_config.embedding_dim,
        projector_hidden_sizes=[int(h) for h in model_args.projector_hidden_sizes],
        graph_matching=dataclasses.asdict(loss_config),
    )
    if model_args.model_name_or_path:
        from transformers import AutoConfig

        config = AutoConfig.from_pretrained(model_args.model_name_or_path)
        for key, value in head_options.items():
            setattr(config, key, value)
        cls = LvmMedCnnForPretraining if config.model_type == "lvmmed_cnn" else LvmMedViTForPretraining
        # The backbone loads from a bare model or a pretraining folder alike (base_model_prefix).
        return cls.from_pretrained(model_args.model_name_or_path, config=config)
    family, _ = get_preset(model_args.model_preset)
    config = preset_config(model_args.model_preset, **head_options)
    return LvmMedCnnForPretraining(config) if family == "cnn" else LvmMedViTForPretraining(config)


def filter_by_image_size(dataset, minimum: int, image_column: str = "image"):
    """Keep the rows with a shorter side >= ``minimum`` px (from the stored ``height`` / ``width``)."""
    import numpy as np

    if minimum <= 0:
        return dataset
    before = len(dataset)
    if {"height", "width"} <= set(dataset.column_names):
        sizes = dataset.select_columns(["height", "width"]).with_format("numpy")[:]
        keep = np.flatnonzero(np.minimum(sizes["height"], sizes["width"]) >= minimum)
        if len(keep) != before:
            dataset = dataset.select(keep, keep_in_memory=True)
    else:
        logger.warning(
            "the corpus has no 'height'/'width' columns (prepared by an earlier version): decoding all "
            "%d images to measure them; run `lvmmed prepare` again to store the sizes",
            before,
        )
        dataset = dataset.filter(lambda row: min(row[image_column].size) >= minimum, keep_in_memory=True)
    logger.info("kept %d of %d images with a shorter side >= %d px", len(dataset), before, minimum)
    return dataset


def load_training_data(data_args: DataArguments, training_args: TrainingArguments):
    """The training ``datasets.Dataset`` (embedded corpus or a prepared corpus folder)."""
    if data_args.embedded == bool(data_args.dataset_dir):
        raise ValueError("give exactly one data source: --embedded or --dataset_dir")
    # The main process prepares first (writes files); the others then read its results.
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
    # Every process filters for itself (stored sizes: no decoding, no waiting at a barrier).
    dataset = filter_by_image_size(dataset, data_args.min_image_size, data_args.image_column)
    if data_args.max_train_samples is not None:
        # a seeded random subset: the corpus is ordered by source, its head is one modality
        subset = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(training_args.seed))
        dataset = dataset.select(sorted(subset[: data_args.max_train_samples].tolist()))
    return dataset


def check_dataset_size(num_images: int, training_args: TrainingArguments) -> None:
    """Refuse a training set smaller than one global batch (it would train 0 steps)."""
    per_device, world = training_args.per_device_train_batch_size, training_args.world_size
    accumulation = training_args.gradient_accumulation_steps
    needed = per_device * world * accumulation
    if num_images < needed:
        raise ValueError(
            f"the training set has {num_images} images after filtering, fewer than one optimisation step "
            f"needs: {needed} = per_device_train_batch_size {per_device} x {world} process(es) x "
            f"gradient_accumulation_steps {accumulation}; add images (or lower --min_image_size / "
            "the batch size)"
        )


def view_config(data_args: DataArguments) -> ViewAugmentationConfig:
    """The view augmentation the data options select."""
    if data_args.deterministic_views:
        return ViewAugmentationConfig.deterministic(data_args.view_size)
    if data_args.view_augmentation == "medical":
        return ViewAugmentationConfig.medical(data_args.view_size, data_args.crop_scale_min)
    if data_args.view_augmentation != "paper":
        raise ValueError(
            f"view_augmentation must be 'paper' or 'medical', got {data_args.view_augmentation!r}"
        )
    return ViewAugmentationConfig(size=data_args.view_size, scale=(data_args.crop_scale_min, 1.0))


def checkpoint_problem(folder: str | os.PathLike) -> str | None:
    """Why ``folder`` is not a complete Trainer checkpoint (a kill while saving), ``None`` when it is:
    state naming the folder's step, readable weights, whole optimizer / scheduler / RNG archives."""
    folder = Path(folder)
    try:
        state = json.loads((folder / "trainer_state.json").read_text())
    except (OSError, ValueError) as err:
        return f"trainer_state.json unreadable ({err.__class__.__name__})"
    step = _checkpoint_step(folder)
    if step is not None and state.get("global_step") != step:
        return f"trainer_state.json says step {state.get('global_step')}"
    weights = [folder / "model.safetensors"]
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        try:
            shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        except (OSError, ValueError, KeyError) as err:
            return f"model.safetensors.index.json unreadable ({err.__class__.__name__})"
        weights = [folder / shard for shard in shards]
    if any(folder.glob("pytorch_model_fsdp*")) or any(folder.glob("global_step*")):
        weights = []  # FSDP sharded / DeepSpeed checkpoints: their own formats, state checked above
    for path in weights:
        try:
            with safe_open(str(path), framework="pt") as f:
                f.keys()
        except Exception as err:  # missing, truncated or corrupt header
            return f"{path.name} unreadable ({err.__class__.__name__})"
    archives = [folder / name for name in ("optimizer.pt", "scheduler.pt") if (folder / name).exists()]
    for path in archives + list(folder.glob("rng_state*.pth")):
        if not (path.is_file() and zipfile.is_zipfile(path)):
            return f"{path.name} truncated"
    return None


def _checkpoint_step(folder: Path) -> int | None:
    """N of a ``checkpoint-N`` folder, else ``None``."""
    prefix, _, step = folder.name.partition("-")
    return int(step) if prefix == "checkpoint" and step.isdigit() else None


def last_complete_checkpoint(output_dir: str | os.PathLike) -> str | None:
    """The newest complete ``checkpoint-N`` of ``output_dir`` (incomplete ones are logged and skipped)."""
    root = Path(output_dir)
    if not root.is_dir():
        return None
    found = [(_checkpoint_step(p), p) for p in root.iterdir() if p.is_dir()]
    for _, folder in sorted(((step, p) for step, p in found if step is not None), reverse=True):
        problem = checkpoint_problem(folder)
        if problem is None:
            return str(folder)
        logger.warning("skipping incomplete checkpoint %s: %s", folder, problem)
    return None


def resolve_resume(training_args: TrainingArguments) -> str | None:
    """``--resume_from_checkpoint``: "true" -> the newest complete checkpoint; a path -> it, if complete."""
    resume = training_args.resume_from_checkpoint
    if resume is None or str(resume).lower() in _FALSE:
        return None
    if str(resume).lower() in _TRUE:
        found = last_complete_checkpoint(training_args.output_dir)
        if found is None:
            raise ValueError(
                "--resume_from_checkpoint True: no complete checkpoint-N folder in "
                f"{training_args.output_dir}"
            )
        return found
    problem = checkpoint_problem(resume)
    if problem is not None:
        raise ValueError(f"--resume_from_checkpoint {resume} is not a complete checkpoint: {problem}")
    return str(resume)


def run_pretraining(
    model_args: ModelArguments,
    data_args: DataArguments,
    gm_args: GraphMatchingLossConfig,
    training_args: PretrainingArguments,
    callbacks: list | None = None,
) -> GraphMatchingTrainer:
    """Pretrain, then write the model to ``output_dir`` and the backbone (with its image processor) to
    ``output_dir/backbone``. Every process must call this: the final save gathers from all ranks."""
    validate_arguments(model_args, data_args, gm_args, training_args)
    resume = resolve_resume(training_args)
    if not data_args.shuffle:
        training_args.train_sampling_strategy = "sequential"
    # Seed before building: every process (and a resumed run) starts from the same weights.
    set_seed(training_args.seed)
    model = build_model(model_args, gm_args)
    if model_args.sync_batchnorm and training_args.world_size > 1:
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    dataset = load_training_data(data_args, training_args)
    check_dataset_size(len(dataset), training_args)
    augmentation = TwoViewAugmentation(view_config(data_args))
    collator = GraphMatchingCollator(
        augmentation,
        image_column=data_args.image_column,
        max_size=data_args.max_image_size,
        on_device=resolve_views_on_device(data_args.views_on_device, training_args.device),
    )
    trainer = GraphMatchingTrainer(
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
        # a caller's callback shows progress and logs: drop the Trainer's printer / progress bar
        from transformers.trainer_callback import PrinterCallback, ProgressCallback

        trainer.remove_callback(PrinterCallback)
        trainer.remove_callback(ProgressCallback)
    trainer.train(resume_from_checkpoint=resume)
    save_pretraining_outputs(trainer, data_args.view_size)
    return trainer


def save_pretraining_outputs(trainer: GraphMatchingTrainer, view_size: int) -> None:
    """Write the model to ``output_dir`` and the backbone to ``output_dir/backbone`` (on every rank)."""
    from ..models.image_processing_lvmmed import LvmMedImageProcessor

    output_dir = trainer.args.output_dir
    trainer.save_model(output_dir)
    # DeepSpeed gathers through its engine (model_wrapped); FSDP through the wrapped trainer.model
    engine = trainer.model_wrapped if getattr(trainer, "is_deepspeed_enabled", False) else trainer.model
    state = trainer.accelerator.get_state_dict(engine)
    if trainer.is_world_process_zero():
        backbone_state = {k.removeprefix("lvmmed."): v for k, v in state.items() if k.startswith("lvmmed.")}
        backbone_dir = os.path.join(output_dir, "backbone")
        base = trainer.accelerator.unwrap_model(trainer.model).lvmmed
        base.save_pretrained(backbone_dir, state_dict=backbone_state)
        LvmMedImageProcessor(size={"height": view_size, "width": view_size}).save_pretrained(backbone_dir)
        logger.info("backbone written to %s", backbone_dir)
    trainer.accelerator.wait_for_everyone()

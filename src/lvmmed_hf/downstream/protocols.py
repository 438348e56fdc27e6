"""The paper's downstream experiments (Nguyen et al., NeurIPS 2023) as named, declarative protocols.

Each figure (percent: mean and std over the paper's runs) and setting names its source, a table of
the paper or the authors' yaml; where neither publishes a fact, ``split_rule`` / ``notes`` state our
rule. docs/protocols.md lists the sources.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

__all__ = ["PROTOCOLS", "Hyper", "PaperFigure", "Protocol", "get_protocol", "protocol_table"]


@dataclass(frozen=True)
class PaperFigure:
    """One figure of the paper: ``value`` (and ``std``) in percent, with the method and table."""

    value: float
    std: float | None
    method: str
    source: str


@dataclass(frozen=True)
class Hyper:
    """Training settings of one backbone family ("cnn" = ResNet-50, "vit" = SAM's ViT-B)."""

    learning_rate: float
    epochs: int
    batch_size: int
    image_size: int
    source: str


@dataclass(frozen=True)
class Protocol:
    """A downstream experiment of the paper. ``task`` selects the recipe that runs it."""

    name: str
    task: str  # classification | segmentation | segmentation-3d | sam | multisite | detection
    dataset: str
    layout: str  # key of lvmmed_hf.downstream.protocol_data.LAYOUTS
    metric: str  # accuracy | dice | iou3d | map50
    split_rule: str
    preprocessing: str
    head: str
    runs: int
    settings: dict[str, Hyper]
    paper: dict[str, PaperFigure | None]
    download: str
    num_labels: int = 2
    freeze_backbone: bool = False
    hidden_sizes: tuple[int, ...] = ()
    validation_fraction: float = 0.2
    sites: tuple[str, ...] = ()  # multisite: test sites besides the training site's held-out part
    train_images: int = 0  # training images (or slices) per run, for the GPU-time estimate
    notes: str = ""
    tags: tuple[str, ...] = ()

    @property
    def families(self) -> tuple[str, ...]:
        return tuple(self.settings)

    def gpu_hours(self, family: str | None = None) -> float:
        """Estimated A100 hours for all runs (an estimate from throughput assumptions, not a measurement).
        Assumed training throughput in images/s on one A100 (forward + backward, mixed precision):
        ResNet-50 U-Net/classifier 900 at 224 px scaled by (224/size)^2; ViT-B 350 at 224 px scaled
        likewise; box-prompted SAM with a frozen 1024-px encoder 40. Evaluation adds 10%."""
        family = family or self.families[0]
        h = self.settings[family]
        base = 900.0 if family == "cnn" else 350.0
        rate = 40.0 if self.task == "sam" else base * (224.0 / h.image_size) ** 2
        return self.runs * h.epochs * max(self.train_images, 1) / rate * 1.1 / 3600.0


_R50, _VIT = "LVM-Med (R50)", "LVM-Med (SAM's ViT)"
_PROMPT_VIT, _PROMPT_BASELINE = f"{_VIT}, box prompt", "SAM (fixed encoder) / MedSAM"


def _paper(
    source: str, r50: tuple | None, vit: tuple, baseline: tuple, vit_method: str = _VIT
) -> dict[str, PaperFigure | None]:
    """The paper dict from ``(value, std)`` of LVM-Med R50 (or None) and ViT, ``(value, std, method)``."""
    return {
        "r50": None if r50 is None else PaperFigure(*r50, _R50, source),
        "vit": PaperFigure(*vit, vit_method, source),
        "baseline": PaperFigure(*baseline, source),
    }


# ---------------------------------------------------------------- classification (Tables 5, 12)
_CLASSIFICATION = {
    "brain-tumor": dict(
        dataset="Brain Tumor Classification (MRI)",
        split_rule="official Training/ and Testing/ folders; validation = scikit-learn train_test_split of "
        "the ImageFolder order of Training (classes and files sorted), test_size=0.3, random_state=42 "
        "(authors' classification code)",
        download="Kaggle 'Brain Tumor Classification (MRI)' (Sartaj Bhuvaji): Training/ and Testing/, "
        "one folder per class (glioma_tumor, meningioma_tumor, no_tumor, pituitary_tumor); 3,264 images",
        num_labels=4,
        validation_fraction=0.3,
        train_images=2009,
    ),
    "fgadr": dict(
        dataset="FGADR (DR grading)",
        split_rule="images sorted by name: the first 1,500 train, the other 341 test (authors' "
        "fgadr_pkl_file.pkl); validation = train_test_split of the ImageFolder order of the training "
        "images, test_size=0.2, random_state=42",
        download="FGADR-Seg-Set (request from the FGADR authors): Seg-set/Original_Images/*.png and "
        "Seg-set/DR_Seg_Grading_Label.csv (image name, grade 0-4); 1,842 images",
        num_labels=5,
        validation_fraction=0.2,
        train_images=1200,
    ),
}
_CLS_HIDDEN = {"brain-tumor": (512, 256), "fgadr": (512, 128)}
# (LVM-Med R50, LVM-Med ViT, strongest other method) per (dataset, frozen backbone, several FCNs):
# Table 5 (one fully connected layer) and Table 12 (several). The registry follows this order.
_CLS_FIGS = {
    ("brain-tumor", True, False): ((66.33, 0.31), (59.31, 0.48), (64.47, 0.55, "Deepcluster-v2")),
    ("brain-tumor", True, True): ((74.70, 0.84), (64.13, 1.14), (67.85, 0.23, "Clip (several FCNs)")),
    ("brain-tumor", False, False): ((76.82, 2.23), (67.34, 2.08), (74.53, 0.43, "Moco-v2")),
    ("brain-tumor", False, True): ((78.77, 0.78), (64.97, 2.71), (61.42, 0.25, "Align (several FCNs)")),
    ("fgadr", True, False): ((68.33, 0.48), (62.46, 0.86), (66.86, 0.41, "Twin-Barlow")),
    ("fgadr", True, True): ((66.67, 0.84), (63.83, 1.36), (62.66, 0.36, "Clip (several FCNs)")),
    ("fgadr", False, False): ((68.32, 0.48), (63.44, 0.73), (67.94, 1.78, "Deepcluster-v2")),
    ("fgadr", False, True): ((70.58, 0.36), (59.04, 0.14), (58.75, 0.99, "SAM (several FCNs)")),
}


def _classification_settings(ds: str, frozen: bool) -> dict[str, Hyper]:
    # yaml: brain lr 5e-4 (batch 64, 20 epochs frozen / 30 fine-tuned, valid_rate 0.3);
    # FGADR R50 lr 5e-4 frozen / 1e-4 fine-tuned, batch 32 (ViT fine-tuned 12), valid_rate 0.2.
    epochs = 20 if frozen else 30
    if ds == "brain-tumor":
        return {
            "cnn": Hyper(5e-4, epochs, 64, 224, "brain_endtoend_R50_*.yml"),
            "vit": Hyper(5e-4, epochs, 64, 224, "appendix B (lr 5e-4); as R50"),
        }
    lr = 5e-4 if frozen else 1e-4
    return {
        "cnn": Hyper(lr, epochs, 32, 224, "fgadr_*_R50_*.yml"),
        "vit": Hyper(lr, epochs, 32 if frozen else 12, 224, "fgadr_endtoend_VIT_*.yml"),
    }


def _classification(ds: str, frozen: bool, fcns: bool) -> Protocol:
    hidden = _CLS_HIDDEN[ds]
    return Protocol(
        name=f"{ds}-{'linear' if frozen else 'finetune'}" + ("-fcns" if fcns else ""),
        task="classification",
        layout=ds,
        metric="accuracy",
        preprocessing="resize to 224 x 224, ImageNet mean/std (authors' test transform); "
        "FGADR images first resized to 512 x 512 by the authors' split script",
        head=f"fully connected {hidden[0]}-{hidden[1]}" if fcns else "one fully connected layer",
        runs=3,
        settings=_classification_settings(ds, frozen),
        paper=_paper("Table 12" if fcns else "Table 5", *_CLS_FIGS[ds, frozen, fcns]),
        freeze_backbone=frozen,
        hidden_sizes=hidden if fcns else (),
        notes="Adam, cross-entropy; the last epoch is tested (the authors keep the best validation epoch).",
        tags=("table-12",) if fcns else ("table-5",),
        **_CLASSIFICATION[ds],
    )


# ------------------------------------------------- 2-D and 3-D segmentation (Tables 2, 3, 7, 8, 11)
MMWHS_VOLUME_SPLIT: dict[str, tuple[str, ...]] = {
    "train": tuple("1001 1003 1005 1006 1008 1009 1011 1014 1015 1016 1017 1018 1020".split()),
    "validation": ("1004", "1007", "1013"),
    "test": ("1002", "1010", "1012", "1019"),
}
_MMWHS_SPLIT = (
    "volumes 1001, 1003, 1005, 1006, 1008, 1009, 1011, 1014-1018, 1020 train; 1004, 1007, 1013 "
    "validation; 1002, 1010, 1012, 1019 test (the volumes of the authors' files_split/MMWHS_*.json)"
)


def _segmentation_pair(
    key: str,
    *,
    three_d: bool = False,
    paper: tuple[tuple, tuple, tuple],
    prompted: tuple[tuple, tuple],
    cnn: Hyper,
    vit: Hyper,
    sam: Hyper,
    **facts,
) -> list[Protocol]:
    """``<key>-seg`` (U-Net / UperNet, Table 2 or 3) and ``<key>-sam`` (box-prompted SAM, Table 2 or 11)
    from ``paper`` (R50, ViT, strongest other) and ``prompted`` (LVM-Med ViT, SAM / MedSAM) figures."""
    facts.setdefault("layout", key)
    seg = Protocol(
        name=f"{key}-seg",
        task="segmentation-3d" if three_d else "segmentation",
        metric="iou3d" if three_d else "dice",
        preprocessing=(
            "2-D slices of the volumes (axial), each slice min-max scaled to 8 bits as the authors' "
            "loader does; training slices balanced: every slice with foreground plus as many drawn at "
            "random from those without (authors' dataloader)"
            if three_d
            else "resize to the protocol's size (nearest for masks), ImageNet mean/std"
        ),
        head="U-Net decoder over the ResNet-50 (paper); UperNet over the ViT (the paper's "
        "TransUNet is not in transformers)",
        runs=5 if three_d else 3,
        settings={"cnn": cnn, "vit": vit},
        paper=_paper("Table 3" if three_d else "Table 2", *paper),
        notes="Adam, Dice + cross-entropy, gradient norm clipped at 1 (appendix B).",
        tags=("table-3",) if three_d else ("table-2",),
        **facts,
    )
    lvm, sam_base = prompted
    sam_protocol = replace(
        seg,
        name=f"{key}-sam",
        task="sam",
        metric="dice",
        preprocessing="1024 x 1024 (SAM), box prompt from the ground truth with random jitter "
        "during training, exact box at test; "
        + ("2-D slices with foreground" if three_d else "one box per image"),
        head="SAM prompt encoder and mask decoder; image and prompt encoders frozen, mask decoder trained",
        settings={"vit": sam},
        paper=_paper(
            "Table 11" if three_d else "Table 2", None, lvm, (*sam_base, _PROMPT_BASELINE), _PROMPT_VIT
        ),
        notes="Needs SAM's prompt encoder and mask decoder (--sam-checkpoint, a SamModel folder "
        "converted from sam_vit_b_01ec64.pth); the image encoder is the backbone under test. "
        "Multi-class masks: the foreground classes form one box prompt (the SAM recipe's target_label "
        "selects one class instead).",
        tags=("table-11",) if three_d else ("table-2",),
    )
    return [seg, sam_protocol]


def _segmentation_protocols() -> list[Protocol]:
    return [
        *_segmentation_pair(
            "isic2018",
            dataset="ISIC 2018 Task 1 (skin lesion)",
            paper=((87.76, 0.30), (88.41, 0.28), (88.17, 0.30, "SAM")),
            prompted=((92.48, 0.07), (92.42, 0.12)),
            cnn=Hyper(1e-4, 35, 16, 512, "Table 7"),
            vit=Hyper(1e-4, 100, 16, 512, "Table 7"),
            sam=Hyper(1e-4, 50, 16, 1024, "Table 7"),
            train_images=2594,
            split_rule="official ISIC 2018 Task 1 training / validation / test sets (the authors publish "
            "no split)",
            download="ISIC 2018 challenge: ISIC2018_Task1-2_{Training,Validation,Test}_Input/ISIC_*.jpg and "
            "ISIC2018_Task1_{Training,Validation,Test}_GroundTruth/ISIC_*_segmentation.png",
        ),
        *_segmentation_pair(
            "jsrt",
            dataset="JSRT + SCR masks (lungs, heart, clavicles)",
            num_labels=4,
            paper=((95.13, 2.64), (90.74, 0.47), (94.84, 2.79, "Dino")),
            prompted=((93.74, 4.06), (92.89, 5.24)),
            cnn=Hyper(1e-3, 50, 32, 224, "Table 7"),
            vit=Hyper(1e-3, 200, 32, 224, "Table 7"),
            sam=Hyper(3e-4, 50, 16, 1024, "Table 7"),
            train_images=124,
            split_rule="SCR folds (the authors publish no split): odd-numbered JSRT images train, "
            "even-numbered test",
            download="JSRT database (All247images/*.IMG, 2048 x 2048 big-endian 12-bit) and the SCR masks "
            "(masks/{left lung,right lung,heart,left clavicle,right clavicle}/*.gif, 1024 x 1024)",
        ),
        *_segmentation_pair(
            "kvasir",
            dataset="Kvasir-SEG (polyp)",
            layout="kvasir-seg",
            paper=((86.76, 0.94), (73.10, 0.08), (83.85, 1.32, "Pre-trained ImageNet U-Net")),
            prompted=((90.09, 0.14), (89.37, 0.57)),
            cnn=Hyper(1e-3, 35, 64, 224, "Table 7; kvasir_endtoend_R50.yml"),
            vit=Hyper(1e-3, 200, 64, 224, "Table 7"),
            sam=Hyper(3e-4, 20, 16, 1024, "Table 7; kvasir_sam.yml"),
            train_images=640,
            split_rule="the authors' files_split/Kvasir.json (640 train / 160 valid / 200 test) given with "
            "--split-file; without it a seeded 64/16/20 split",
            download="Kvasir-SEG: Kvasir-SEG/images/*.jpg and Kvasir-SEG/masks/*.jpg",
        ),
        *_segmentation_pair(
            "drive",
            dataset="DRIVE (retinal vessels)",
            paper=((66.97, 0.27), (65.49, 0.12), (66.17, 0.27, "VicRegl")),
            prompted=((63.01, 0.02), (59.74, 0.63)),
            cnn=Hyper(1e-3, 50, 16, 224, "Table 7"),
            vit=Hyper(1e-3, 200, 16, 224, "Table 7"),
            sam=Hyper(3e-4, 100, 16, 1024, "Table 7"),
            train_images=16,
            split_rule="official DRIVE training (20) / test (20) sets; validation = seeded 20% of training",
            download="DRIVE: {training,test}/images/*.tif and {training,test}/1st_manual/*_manual1.gif",
        ),
        *_segmentation_pair(
            "buid",
            dataset="BUSI / BUID (breast ultrasound)",
            paper=((78.65, 0.72), (77.20, 0.42), (76.52, 0.22, "SimCLR")),
            prompted=((89.69, 0.61), (87.63, 0.67)),
            cnn=Hyper(1e-4, 50, 8, 256, "Table 7; buid_endtoend_R50.yml"),
            vit=Hyper(1e-4, 200, 8, 256, "Table 7"),
            sam=Hyper(1e-4, 20, 16, 1024, "Table 7; buid_lvm_med_sam.yml"),
            train_images=413,
            split_rule="the authors' files_split/BUID.json (413 / 104 / 130) given with --split-file; "
            "without it a seeded 64/16/20 split; the 'normal' class is left out and a lesion's several "
            "masks are merged (authors' BUID_split.py)",
            download="Dataset_BUSI_with_GT/{benign,malignant}/<class> (<n>).png with "
            "<class> (<n>)_mask[_k].png",
        ),
        *_segmentation_pair(
            "brats",
            three_d=True,
            dataset="BraTS 2018 (glioma, FLAIR, whole tumour)",
            layout="brats2018",
            paper=((73.58, 0.14), (71.42, 0.70), (73.30, 0.18, "Twin-Barlow")),
            prompted=((85.76, 0.07), (85.37, 0.07)),
            cnn=Hyper(1.5e-3, 20, 128, 224, "Table 8"),
            vit=Hyper(1e-4, 100, 16, 224, "Table 8"),
            sam=Hyper(3e-5, 30, 16, 1024, "Table 8"),
            train_images=20000,
            split_rule="seeded 70/10/20 split by patient (the authors publish no BraTS split)",
            download="MICCAI_BraTS_2018_Data_Training/{HGG,LGG}/<case>/<case>_{flair,seg}.nii.gz",
        ),
        *_segmentation_pair(
            "mmwhs-ct",
            three_d=True,
            dataset="MM-WHS 2017 CT (7 heart structures)",
            num_labels=8,
            paper=((84.91, 0.77), (80.78, 1.77), (84.74, 1.01, "Twin-Barlow")),
            prompted=((78.03, 0.93), (76.61, 1.91)),
            cnn=Hyper(1e-3, 20, 64, 224, "Table 8; mmwhs_ct_endtoend_R50.yml"),
            vit=Hyper(1e-4, 100, 16, 224, "Table 8"),
            sam=Hyper(3e-5, 30, 16, 1024, "mmwhs_ct_sam.yml (Table 8 says 5e-5)"),
            train_images=3664,
            split_rule=_MMWHS_SPLIT,
            download="MM-WHS 2017: ct_train/ct_train_<1001-1020>_{image,label}.nii.gz",
        ),
        *_segmentation_pair(
            "mmwhs-mri",
            three_d=True,
            dataset="MM-WHS 2017 MRI (7 heart structures)",
            num_labels=8,
            paper=((78.59, 0.84), (69.36, 0.18), (79.05, 1.63, "Deepcluster-v2")),
            prompted=((78.91, 0.80), (77.64, 1.14)),
            cnn=Hyper(1.5e-3, 30, 64, 224, "Table 8; mmwhs_mr_endtoend_R50.yml"),
            vit=Hyper(1e-4, 100, 16, 224, "Table 8"),
            sam=Hyper(5e-5, 30, 16, 1024, "mmwhs_mri_sam.yml (Table 8 says 3e-5)"),
            train_images=1935,
            split_rule=_MMWHS_SPLIT,
            download="MM-WHS 2017: mr_train/mr_train_<1001-1020>_{image,label}.nii.gz",
        ),
    ]


# ------------------------------------------------------------ multi-site prostate (Tables 4 and 8)
_PROSTATE_SEG = Protocol(
    name="prostate-multisite-seg",
    task="multisite",
    dataset="Multi-site prostate MRI",
    layout="prostate",
    metric="dice",
    split_rule="train on BMC (seeded 80/20 split by case: the 20% is the 'BMC' column), test the trained "
    "model on every case of RUNMC, BIDMC and HK (the authors publish no split)",
    preprocessing="axial 2-D slices, per-slice min-max to 8 bits, balanced slice sampling, 224 x 224",
    head="U-Net decoder over the ResNet-50",
    runs=3,
    settings={"cnn": Hyper(1e-3, 30, 64, 224, "Table 8 (BMC)")},
    paper={
        "r50": PaperFigure(63.0, None, "LVM-Med (R50), average of BMC/RUNMC/BIDMC/HK", "Table 4"),
        "vit": None,
        "baseline": PaperFigure(59.1, None, "Pre-trained ImageNet, average", "Table 4"),
    },
    download="Multi-site prostate MRI (Liu et al., MICCAI 2020, SAML): <site>/Case<nn>.nii.gz and "
    "Case<nn>_segmentation.nii.gz for the sites BMC, RUNMC, BIDMC, HK (and I2CVB, UCL, unused)",
    sites=("RUNMC", "BIDMC", "HK"),
    train_images=600,
    notes="Per site (Table 4, R50): BMC 80.17, RUNMC 62.48, BIDMC 56.76, HK 52.78.",
    tags=("table-4",),
)
_PROSTATE_SAM = replace(
    _PROSTATE_SEG,
    name="prostate-multisite-sam",
    preprocessing="axial 2-D slices with foreground, 1024 x 1024, box prompts",
    head="SAM mask decoder trained, image and prompt encoders frozen",
    settings={"vit": Hyper(3e-4, 50, 16, 1024, "Table 8 (BMC)")},
    paper={
        "r50": None,
        "vit": PaperFigure(92.73, None, f"{_PROMPT_VIT}, average", "Table 4"),
        "baseline": PaperFigure(92.28, None, f"{_PROMPT_BASELINE}, average", "Table 4"),
    },
    notes="Per site (Table 4, ViT prompt): BMC 95.75, RUNMC 90.40, BIDMC 92.03, HK 92.75.",
)

# -------------------------------------------------------------------- detection (appendix B, Fig. 4)
_VINDR_DET = Protocol(
    name="vindr-cxr-det",
    task="detection",
    dataset="VinDr-CXR (14 findings)",
    layout="vindr-cxr",
    metric="map50",
    split_rule="seeded 80/20 split by image of the training set (the authors publish no split); "
    "'No finding' rows carry no box",
    preprocessing="512 x 512 (appendix B)",
    head="Conditional DETR (paper: Faster R-CNN)",
    runs=3,
    settings={"cnn": Hyper(1e-4, 40, 8, 512, "appendix B")},
    paper={"r50": None, "vit": None, "baseline": None},
    download="VinDr-CXR train.csv (image_id, class_name, class_id, rad_id, x_min, y_min, x_max, "
    "y_max[, width, height]) with the images as PNG (e.g. the 512-px Kaggle export) under train/",
    num_labels=14,
    train_images=12000,
    notes="The paper fine-tunes Faster R-CNN and shows the per-dataset AP50 only in Figure 4 (its Table 9 "
    "gives the mean of VinDr and Kvasir, 57.1, for LVM-Med R50); transformers has no Faster R-CNN, "
    "so this protocol trains Conditional DETR over the same backbone: compare methods with each "
    "other under this protocol, not with the figure.",
    tags=("figure-4",),
)
_KVASIR_DET = replace(
    _VINDR_DET,
    name="kvasir-det",
    dataset="Kvasir-SEG polyps (boxes)",
    layout="kvasir-det",
    split_rule="as kvasir-seg (the authors' Kvasir.json with --split-file, else seeded 64/16/20)",
    settings={"cnn": Hyper(2.5e-4, 40, 8, 512, "appendix B (lr 2.5e-4, batch 8; epochs not given)")},
    download="Kvasir-SEG: Kvasir-SEG/images/*.jpg and Kvasir-SEG/kavsir_bboxes.json",
    num_labels=1,
    train_images=640,
)

PROTOCOLS: dict[str, Protocol] = {
    p.name: p
    for p in (
        *(_classification(ds, frozen, fcns) for ds, frozen, fcns in _CLS_FIGS),
        *_segmentation_protocols(),
        _PROSTATE_SEG,
        _PROSTATE_SAM,
        _VINDR_DET,
        _KVASIR_DET,
    )
}


def get_protocol(name: str) -> Protocol:
    """The protocol called ``name``; a ``KeyError`` listing the known names otherwise."""
    try:
        return PROTOCOLS[name]
    except KeyError:
        raise KeyError(f"unknown protocol {name!r}; known: {', '.join(sorted(PROTOCOLS))}") from None


def _fmt_fig(fig: PaperFigure | None) -> str:
    if fig is None:
        return "-"
    return f"{fig.value:.2f}" + (f" ± {fig.std:.2f}" if fig.std is not None else "")


def protocol_table(names: list[str] | None = None) -> str:
    """A Markdown table of the protocols: dataset, metric, the paper's figures, runs, GPU-hour estimate."""
    rows = [
        "| protocol | dataset | metric | runs | LVM-Med R50 | LVM-Med ViT-B | strongest other (paper) | "
        "est. A100 h |",
        "|---|---|---|---:|---:|---:|---|---:|",
    ]
    for name in names or list(PROTOCOLS):
        p = PROTOCOLS[name]
        base = p.paper.get("baseline")
        base_txt = f"{base.method} {_fmt_fig(base)}" if base else "-"
        hours = " / ".join(f"{fam} {p.gpu_hours(fam):.1f}" for fam in p.families)
        rows.append(
            f"| {p.name} | {p.dataset} | {p.metric} | {p.runs} | {_fmt_fig(p.paper.get('r50'))} | "
            f"{_fmt_fig(p.paper.get('vit'))} | {base_txt} | {hours} |"
        )
    return "\n".join(rows)

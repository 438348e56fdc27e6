"""The paper's downstream experiments as named, declarative protocols.

One :class:`Protocol` per experiment of Nguyen et al. (NeurIPS 2023): the dataset and the public
layout it is read from, the split rule, the preprocessing, the head, the optimiser settings per
backbone family, the number of runs, the metric, and the paper's figures (LVM-Med R50, LVM-Med
SAM's ViT-B and the strongest other method the paper lists in the same table).

Where the facts come from (cited per field):

- the paper: Tables 2-5, 11 and 12 (figures), appendix B, Tables 7 and 8 (learning rate, epochs,
  input size, batch size per dataset and backbone family), section 4 (runs: 3 for 2-D, 5 for 3-D);
- the authors' repository (duyhominhnguyen/LVM-Med): ``dataloader/yaml_data/*.yml`` (optimiser
  settings where they differ from the appendix), ``classification_R50/train_R50_classification.py``
  (the validation split: scikit-learn ``train_test_split(range(len(ImageFolder(Training))),
  test_size=valid_rate, random_state=42)``), ``datasets_split/FGADR_split.py`` and
  ``files_split/fgadr_pkl_file.pkl`` (FGADR: the first 1,500 images by name train, the other 341
  test), ``files_split/{BUID,Kvasir,MMWHS_CT_Heart,MMWHS_MR_Heart}.json`` (fixed train / valid /
  test lists; the MM-WHS volumes of each side are listed below), ``dataloader/dataset.py`` (balanced
  slice sampling: every slice with foreground plus as many slices drawn at random, with
  replacement, from those without).

Where neither publishes a fact, the protocol states our rule in ``split_rule`` / ``notes``. Figures
are percentages (mean and standard deviation over the paper's runs).
"""

from __future__ import annotations

from dataclasses import dataclass, field

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
    tags: tuple[str, ...] = field(default=())

    @property
    def families(self) -> tuple[str, ...]:
        return tuple(self.settings)

    def gpu_hours(self, family: str | None = None) -> float:
        """Estimated A100 hours for all runs (an estimate from throughput assumptions, not a measurement).

        Assumed training throughput in images/s on one A100 (forward + backward, mixed precision):
        ResNet-50 U-Net/classifier 900 at 224 px scaled by (224/size)^2; ViT-B 350 at 224 px scaled
        likewise; box-prompted SAM with a frozen 1024-px encoder 40. Evaluation adds 10%.
        """
        family = family or self.families[0]
        h = self.settings[family]
        if self.task == "sam":
            rate = 40.0
        else:
            base = 900.0 if family == "cnn" else 350.0
            rate = base * (224.0 / h.image_size) ** 2
        seconds = self.runs * h.epochs * max(self.train_images, 1) / rate * 1.1
        return seconds / 3600.0


def _fig(value: float, std: float | None, method: str, source: str) -> PaperFigure:
    return PaperFigure(value, std, method, source)


# ---------------------------------------------------------------- classification (Tables 5, 12)
_CLS_DOWNLOAD = {
    "brain-tumor": "Kaggle 'Brain Tumor Classification (MRI)' (Sartaj Bhuvaji): Training/ and Testing/, "
    "one folder per class (glioma_tumor, meningioma_tumor, no_tumor, pituitary_tumor); 3,264 images",
    "fgadr": "FGADR-Seg-Set (request from the FGADR authors): Seg-set/Original_Images/*.png and "
    "Seg-set/DR_Seg_Grading_Label.csv (image name, grade 0-4); 1,842 images",
}
# (linear FGADR, linear Brain, fine-tune FGADR, fine-tune Brain) per method, Table 5 (1-FCN) and
# Table 12 (several FCNs); strongest other method per column of the same table.
_CLS_FIGS = {
    ("fgadr", True, False): (
        _fig(68.33, 0.48, "LVM-Med (R50)", "Table 5"),
        _fig(62.46, 0.86, "LVM-Med (SAM's ViT)", "Table 5"),
        _fig(66.86, 0.41, "Twin-Barlow", "Table 5"),
    ),
    ("brain-tumor", True, False): (
        _fig(66.33, 0.31, "LVM-Med (R50)", "Table 5"),
        _fig(59.31, 0.48, "LVM-Med (SAM's ViT)", "Table 5"),
        _fig(64.47, 0.55, "Deepcluster-v2", "Table 5"),
    ),
    ("fgadr", False, False): (
        _fig(68.32, 0.48, "LVM-Med (R50)", "Table 5"),
        _fig(63.44, 0.73, "LVM-Med (SAM's ViT)", "Table 5"),
        _fig(67.94, 1.78, "Deepcluster-v2", "Table 5"),
    ),
    ("brain-tumor", False, False): (
        _fig(76.82, 2.23, "LVM-Med (R50)", "Table 5"),
        _fig(67.34, 2.08, "LVM-Med (SAM's ViT)", "Table 5"),
        _fig(74.53, 0.43, "Moco-v2", "Table 5"),
    ),
    ("fgadr", True, True): (
        _fig(66.67, 0.84, "LVM-Med (R50)", "Table 12"),
        _fig(63.83, 1.36, "LVM-Med (SAM's ViT)", "Table 12"),
        _fig(62.66, 0.36, "Clip (several FCNs)", "Table 12"),
    ),
    ("brain-tumor", True, True): (
        _fig(74.70, 0.84, "LVM-Med (R50)", "Table 12"),
        _fig(64.13, 1.14, "LVM-Med (SAM's ViT)", "Table 12"),
        _fig(67.85, 0.23, "Clip (several FCNs)", "Table 12"),
    ),
    ("fgadr", False, True): (
        _fig(70.58, 0.36, "LVM-Med (R50)", "Table 12"),
        _fig(59.04, 0.14, "LVM-Med (SAM's ViT)", "Table 12"),
        _fig(58.75, 0.99, "SAM (several FCNs)", "Table 12"),
    ),
    ("brain-tumor", False, True): (
        _fig(78.77, 0.78, "LVM-Med (R50)", "Table 12"),
        _fig(64.97, 2.71, "LVM-Med (SAM's ViT)", "Table 12"),
        _fig(61.42, 0.25, "Align (several FCNs)", "Table 12"),
    ),
}


def _classification_protocols() -> list[Protocol]:
    out = []
    for ds in ("brain-tumor", "fgadr"):
        for frozen in (True, False):
            for fcns in (False, True):
                r50, vit, base = _CLS_FIGS[(ds, frozen, fcns)]
                # yaml: brain lr 5e-4 (batch 64, 20 epochs frozen / 30 fine-tuned, valid_rate 0.3);
                # FGADR R50 lr 5e-4 frozen / 1e-4 fine-tuned, batch 32 (ViT fine-tuned 12), valid_rate 0.2.
                if ds == "brain-tumor":
                    cnn = Hyper(5e-4, 20 if frozen else 30, 64, 224, "brain_endtoend_R50_*.yml")
                    vit_h = Hyper(5e-4, 20 if frozen else 30, 64, 224, "appendix B (lr 5e-4); as R50")
                    hidden, valid, n_train = (512, 256), 0.3, 2009
                else:
                    cnn = Hyper(5e-4 if frozen else 1e-4, 20 if frozen else 30, 32, 224, "fgadr_*_R50_*.yml")
                    vit_h = Hyper(
                        5e-4 if frozen else 1e-4,
                        20 if frozen else 30,
                        32 if frozen else 12,
                        224,
                        "fgadr_endtoend_VIT_*.yml",
                    )
                    hidden, valid, n_train = (512, 128), 0.2, 1200
                mode = "linear" if frozen else "finetune"
                out.append(
                    Protocol(
                        name=f"{ds}-{mode}" + ("-fcns" if fcns else ""),
                        task="classification",
                        dataset="Brain Tumor Classification (MRI)"
                        if ds == "brain-tumor"
                        else "FGADR (DR grading)",
                        layout=ds,
                        metric="accuracy",
                        split_rule=(
                            "official Training/ and Testing/ folders; validation = scikit-learn "
                            "train_test_split of the ImageFolder order of Training (classes and files "
                            "sorted), "
                            "test_size=0.3, random_state=42 (authors' classification code)"
                            if ds == "brain-tumor"
                            else "images sorted by name: the first 1,500 train, the other 341 test (authors' "
                            "fgadr_pkl_file.pkl); validation = train_test_split of the ImageFolder order of "
                            "the training images, test_size=0.2, random_state=42"
                        ),
                        preprocessing="resize to 224 x 224, ImageNet mean/std (authors' test transform); "
                        "FGADR images first resized to 512 x 512 by the authors' split script",
                        head=(
                            "one fully connected layer"
                            if not fcns
                            else f"fully connected {hidden[0]}-{hidden[1]}"
                        ),
                        runs=3,
                        settings={"cnn": cnn, "vit": vit_h},
                        paper={"r50": r50, "vit": vit, "baseline": base},
                        download=_CLS_DOWNLOAD[ds],
                        num_labels=4 if ds == "brain-tumor" else 5,
                        freeze_backbone=frozen,
                        hidden_sizes=hidden if fcns else (),
                        validation_fraction=valid,
                        train_images=n_train,
                        notes="Adam, cross-entropy; the last epoch is tested (the authors keep the best "
                        "validation epoch).",
                        tags=("table-5",) if not fcns else ("table-12",),
                    )
                )
    return out


# ------------------------------------------------------------- 2-D segmentation (Tables 2 and 7)
_SEG2D = {
    # name: (dataset, layout, num_labels, R50 fig, ViT fig, baseline fig, prompt-based LVM fig,
    #        prompt-based baseline fig, (cnn Hyper), (vit Hyper), (sam Hyper), train images, split, download)
    "isic2018": (
        "ISIC 2018 Task 1 (skin lesion)",
        "isic2018",
        2,
        _fig(87.76, 0.30, "LVM-Med (R50)", "Table 2"),
        _fig(88.41, 0.28, "LVM-Med (SAM's ViT)", "Table 2"),
        _fig(88.17, 0.30, "SAM", "Table 2"),
        _fig(92.48, 0.07, "LVM-Med (SAM's ViT), box prompt", "Table 2"),
        _fig(92.42, 0.12, "SAM (fixed encoder) / MedSAM", "Table 2"),
        Hyper(1e-4, 35, 16, 512, "Table 7"),
        Hyper(1e-4, 100, 16, 512, "Table 7"),
        Hyper(1e-4, 50, 16, 1024, "Table 7"),
        2594,
        "official ISIC 2018 Task 1 training / validation / test sets (the authors publish no split)",
        "ISIC 2018 challenge: ISIC2018_Task1-2_{Training,Validation,Test}_Input/ISIC_*.jpg and "
        "ISIC2018_Task1_{Training,Validation,Test}_GroundTruth/ISIC_*_segmentation.png",
    ),
    "jsrt": (
        "JSRT + SCR masks (lungs, heart, clavicles)",
        "jsrt",
        4,
        _fig(95.13, 2.64, "LVM-Med (R50)", "Table 2"),
        _fig(90.74, 0.47, "LVM-Med (SAM's ViT)", "Table 2"),
        _fig(94.84, 2.79, "Dino", "Table 2"),
        _fig(93.74, 4.06, "LVM-Med (SAM's ViT), box prompt", "Table 2"),
        _fig(92.89, 5.24, "SAM (fixed encoder) / MedSAM", "Table 2"),
        Hyper(1e-3, 50, 32, 224, "Table 7"),
        Hyper(1e-3, 200, 32, 224, "Table 7"),
        Hyper(3e-4, 50, 16, 1024, "Table 7"),
        124,
        "SCR folds (the authors publish no split): odd-numbered JSRT images train, even-numbered test",
        "JSRT database (All247images/*.IMG, 2048 x 2048 big-endian 12-bit) and the SCR masks "
        "(masks/{left lung,right lung,heart,left clavicle,right clavicle}/*.gif, 1024 x 1024)",
    ),
    "kvasir": (
        "Kvasir-SEG (polyp)",
        "kvasir-seg",
        2,
        _fig(86.76, 0.94, "LVM-Med (R50)", "Table 2"),
        _fig(73.10, 0.08, "LVM-Med (SAM's ViT)", "Table 2"),
        _fig(83.85, 1.32, "Pre-trained ImageNet U-Net", "Table 2"),
        _fig(90.09, 0.14, "LVM-Med (SAM's ViT), box prompt", "Table 2"),
        _fig(89.37, 0.57, "SAM (fixed encoder) / MedSAM", "Table 2"),
        Hyper(1e-3, 35, 64, 224, "Table 7; kvasir_endtoend_R50.yml"),
        Hyper(1e-3, 200, 64, 224, "Table 7"),
        Hyper(3e-4, 20, 16, 1024, "Table 7; kvasir_sam.yml"),
        640,
        "the authors' files_split/Kvasir.json (640 train / 160 valid / 200 test) given with --split-file; "
        "without it a seeded 64/16/20 split",
        "Kvasir-SEG: Kvasir-SEG/images/*.jpg and Kvasir-SEG/masks/*.jpg",
    ),
    "drive": (
        "DRIVE (retinal vessels)",
        "drive",
        2,
        _fig(66.97, 0.27, "LVM-Med (R50)", "Table 2"),
        _fig(65.49, 0.12, "LVM-Med (SAM's ViT)", "Table 2"),
        _fig(66.17, 0.27, "VicRegl", "Table 2"),
        _fig(63.01, 0.02, "LVM-Med (SAM's ViT), box prompt", "Table 2"),
        _fig(59.74, 0.63, "SAM (fixed encoder) / MedSAM", "Table 2"),
        Hyper(1e-3, 50, 16, 224, "Table 7"),
        Hyper(1e-3, 200, 16, 224, "Table 7"),
        Hyper(3e-4, 100, 16, 1024, "Table 7"),
        16,
        "official DRIVE training (20) / test (20) sets; validation = seeded 20% of training",
        "DRIVE: {training,test}/images/*.tif and {training,test}/1st_manual/*_manual1.gif",
    ),
    "buid": (
        "BUSI / BUID (breast ultrasound)",
        "buid",
        2,
        _fig(78.65, 0.72, "LVM-Med (R50)", "Table 2"),
        _fig(77.20, 0.42, "LVM-Med (SAM's ViT)", "Table 2"),
        _fig(76.52, 0.22, "SimCLR", "Table 2"),
        _fig(89.69, 0.61, "LVM-Med (SAM's ViT), box prompt", "Table 2"),
        _fig(87.63, 0.67, "SAM (fixed encoder) / MedSAM", "Table 2"),
        Hyper(1e-4, 50, 8, 256, "Table 7; buid_endtoend_R50.yml"),
        Hyper(1e-4, 200, 8, 256, "Table 7"),
        Hyper(1e-4, 20, 16, 1024, "Table 7; buid_lvm_med_sam.yml"),
        413,
        "the authors' files_split/BUID.json (413 / 104 / 130) given with --split-file; without it a seeded "
        "64/16/20 split; the 'normal' class is left out and a lesion's several masks are merged "
        "(authors' BUID_split.py)",
        "Dataset_BUSI_with_GT/{benign,malignant}/<class> (<n>).png with <class> (<n>)_mask[_k].png",
    ),
}

# ------------------------------------------------------------- 3-D segmentation (Tables 3, 8, 11)
_MMWHS_SPLIT = (
    "volumes 1001, 1003, 1005, 1006, 1008, 1009, 1011, 1014-1018, 1020 train; 1004, 1007, 1013 "
    "validation; 1002, 1010, 1012, 1019 test (the volumes of the authors' files_split/MMWHS_*.json)"
)
MMWHS_VOLUME_SPLIT: dict[str, tuple[str, ...]] = {
    "train": (
        "1001",
        "1003",
        "1005",
        "1006",
        "1008",
        "1009",
        "1011",
        "1014",
        "1015",
        "1016",
        "1017",
        "1018",
        "1020",
    ),
    "validation": ("1004", "1007", "1013"),
    "test": ("1002", "1010", "1012", "1019"),
}
_SEG3D = {
    "brats": (
        "BraTS 2018 (glioma, FLAIR, whole tumour)",
        "brats2018",
        2,
        _fig(73.58, 0.14, "LVM-Med (R50)", "Table 3"),
        _fig(71.42, 0.70, "LVM-Med (SAM's ViT)", "Table 3"),
        _fig(73.30, 0.18, "Twin-Barlow", "Table 3"),
        _fig(85.76, 0.07, "LVM-Med (SAM's ViT), box prompt", "Table 11"),
        _fig(85.37, 0.07, "SAM (fixed encoder) / MedSAM", "Table 11"),
        Hyper(1.5e-3, 20, 128, 224, "Table 8"),
        Hyper(1e-4, 100, 16, 224, "Table 8"),
        Hyper(3e-5, 30, 16, 1024, "Table 8"),
        20000,
        "seeded 70/10/20 split by patient (the authors publish no BraTS split)",
        "MICCAI_BraTS_2018_Data_Training/{HGG,LGG}/<case>/<case>_{flair,seg}.nii.gz",
    ),
    "mmwhs-ct": (
        "MM-WHS 2017 CT (7 heart structures)",
        "mmwhs-ct",
        8,
        _fig(84.91, 0.77, "LVM-Med (R50)", "Table 3"),
        _fig(80.78, 1.77, "LVM-Med (SAM's ViT)", "Table 3"),
        _fig(84.74, 1.01, "Twin-Barlow", "Table 3"),
        _fig(78.03, 0.93, "LVM-Med (SAM's ViT), box prompt", "Table 11"),
        _fig(76.61, 1.91, "SAM (fixed encoder) / MedSAM", "Table 11"),
        Hyper(1e-3, 20, 64, 224, "Table 8; mmwhs_ct_endtoend_R50.yml"),
        Hyper(1e-4, 100, 16, 224, "Table 8"),
        Hyper(3e-5, 30, 16, 1024, "mmwhs_ct_sam.yml (Table 8 says 5e-5)"),
        3664,
        _MMWHS_SPLIT,
        "MM-WHS 2017: ct_train/ct_train_<1001-1020>_{image,label}.nii.gz",
    ),
    "mmwhs-mri": (
        "MM-WHS 2017 MRI (7 heart structures)",
        "mmwhs-mri",
        8,
        _fig(78.59, 0.84, "LVM-Med (R50)", "Table 3"),
        _fig(69.36, 0.18, "LVM-Med (SAM's ViT)", "Table 3"),
        _fig(79.05, 1.63, "Deepcluster-v2", "Table 3"),
        _fig(78.91, 0.80, "LVM-Med (SAM's ViT), box prompt", "Table 11"),
        _fig(77.64, 1.14, "SAM (fixed encoder) / MedSAM", "Table 11"),
        Hyper(1.5e-3, 30, 64, 224, "Table 8; mmwhs_mr_endtoend_R50.yml"),
        Hyper(1e-4, 100, 16, 224, "Table 8"),
        Hyper(5e-5, 30, 16, 1024, "mmwhs_mri_sam.yml (Table 8 says 3e-5)"),
        1935,
        _MMWHS_SPLIT,
        "MM-WHS 2017: mr_train/mr_train_<1001-1020>_{image,label}.nii.gz",
    ),
}


def _segmentation_protocols() -> list[Protocol]:
    out = []
    for key, spec in {**_SEG2D, **_SEG3D}.items():
        (
            dataset,
            layout,
            n_labels,
            r50,
            vit,
            base,
            sam_lvm,
            sam_base,
            cnn_h,
            vit_h,
            sam_h,
            n_train,
            split,
            dl,
        ) = spec
        three_d = key in _SEG3D
        prep = (
            "2-D slices of the volumes (axial), each slice min-max scaled to 8 bits as the authors' "
            "loader does; training slices balanced: every slice with foreground plus as many drawn at "
            "random from those without (authors' dataloader)"
            if three_d
            else "resize to the protocol's size (nearest for masks), ImageNet mean/std"
        )
        out.append(
            Protocol(
                name=f"{key}-seg",
                task="segmentation-3d" if three_d else "segmentation",
                dataset=dataset,
                layout=layout,
                metric="iou3d" if three_d else "dice",
                split_rule=split,
                preprocessing=prep,
                head="U-Net decoder over the ResNet-50 (paper); UperNet over the ViT (the paper's "
                "TransUNet is not in transformers)",
                runs=5 if three_d else 3,
                settings={"cnn": cnn_h, "vit": vit_h},
                paper={"r50": r50, "vit": vit, "baseline": base},
                download=dl,
                num_labels=n_labels,
                train_images=n_train,
                notes="Adam, Dice + cross-entropy, gradient norm clipped at 1 (appendix B).",
                tags=("table-3",) if three_d else ("table-2",),
            )
        )
        out.append(
            Protocol(
                name=f"{key}-sam",
                task="sam",
                dataset=dataset,
                layout=layout,
                metric="dice",
                split_rule=split,
                preprocessing="1024 x 1024 (SAM), box prompt from the ground truth with random jitter "
                "during training, exact box at test; "
                + ("2-D slices with foreground" if three_d else "one box per image"),
                head="SAM prompt encoder and mask decoder; image and prompt encoders frozen, "
                "mask decoder trained",
                runs=5 if three_d else 3,
                settings={"vit": sam_h},
                paper={"r50": None, "vit": sam_lvm, "baseline": sam_base},
                download=dl,
                num_labels=n_labels,
                train_images=n_train,
                notes="Needs SAM's prompt encoder and mask decoder (--sam-checkpoint, a SamModel folder "
                "converted from sam_vit_b_01ec64.pth); the image encoder is the backbone under test. "
                "Multi-class masks: the foreground classes form one box prompt (the SAM "
                "recipe's target_label "
                "selects one class instead).",
                tags=("table-11",) if three_d else ("table-2",),
            )
        )
    return out


# ------------------------------------------------------------ multi-site prostate (Tables 4 and 8)
def _prostate_protocols() -> list[Protocol]:
    download = (
        "Multi-site prostate MRI (Liu et al., MICCAI 2020, SAML): <site>/Case<nn>.nii.gz and "
        "Case<nn>_segmentation.nii.gz for the sites BMC, RUNMC, BIDMC, HK (and I2CVB, UCL, unused)"
    )
    split = (
        "train on BMC (seeded 80/20 split by case: the 20% is the 'BMC' column), test the trained model "
        "on every case of RUNMC, BIDMC and HK (the authors publish no split)"
    )
    return [
        Protocol(
            name="prostate-multisite-seg",
            task="multisite",
            dataset="Multi-site prostate MRI",
            layout="prostate",
            metric="dice",
            split_rule=split,
            preprocessing="axial 2-D slices, per-slice min-max to 8 bits, balanced slice sampling, 224 x 224",
            head="U-Net decoder over the ResNet-50",
            runs=3,
            settings={"cnn": Hyper(1e-3, 30, 64, 224, "Table 8 (BMC)")},
            paper={
                "r50": _fig(63.0, None, "LVM-Med (R50), average of BMC/RUNMC/BIDMC/HK", "Table 4"),
                "vit": None,
                "baseline": _fig(59.1, None, "Pre-trained ImageNet, average", "Table 4"),
            },
            download=download,
            sites=("RUNMC", "BIDMC", "HK"),
            train_images=600,
            notes="Per site (Table 4, R50): BMC 80.17, RUNMC 62.48, BIDMC 56.76, HK 52.78.",
            tags=("table-4",),
        ),
        Protocol(
            name="prostate-multisite-sam",
            task="multisite",
            dataset="Multi-site prostate MRI",
            layout="prostate",
            metric="dice",
            split_rule=split,
            preprocessing="axial 2-D slices with foreground, 1024 x 1024, box prompts",
            head="SAM mask decoder trained, image and prompt encoders frozen",
            runs=3,
            settings={"vit": Hyper(3e-4, 50, 16, 1024, "Table 8 (BMC)")},
            paper={
                "r50": None,
                "vit": _fig(92.73, None, "LVM-Med (SAM's ViT), box prompt, average", "Table 4"),
                "baseline": _fig(92.28, None, "SAM (fixed encoder) / MedSAM, average", "Table 4"),
            },
            download=download,
            sites=("RUNMC", "BIDMC", "HK"),
            train_images=600,
            notes="Per site (Table 4, ViT prompt): BMC 95.75, RUNMC 90.40, BIDMC 92.03, HK 92.75.",
            tags=("table-4",),
        ),
    ]


# -------------------------------------------------------------------- detection (appendix B, Fig. 4)
def _detection_protocols() -> list[Protocol]:
    note = (
        "The paper fine-tunes Faster R-CNN and shows the per-dataset AP50 only in Figure 4 (its Table 9 "
        "gives the mean of VinDr and Kvasir, 57.1, for LVM-Med R50); transformers has no Faster R-CNN, "
        "so this protocol trains Conditional DETR over the same backbone: compare methods with each "
        "other under this protocol, not with the figure."
    )
    return [
        Protocol(
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
            notes=note,
            tags=("figure-4",),
        ),
        Protocol(
            name="kvasir-det",
            task="detection",
            dataset="Kvasir-SEG polyps (boxes)",
            layout="kvasir-det",
            metric="map50",
            split_rule="as kvasir-seg (the authors' Kvasir.json with --split-file, else seeded 64/16/20)",
            preprocessing="512 x 512 (appendix B)",
            head="Conditional DETR (paper: Faster R-CNN)",
            runs=3,
            settings={"cnn": Hyper(2.5e-4, 40, 8, 512, "appendix B (lr 2.5e-4, batch 8; epochs not given)")},
            paper={"r50": None, "vit": None, "baseline": None},
            download="Kvasir-SEG: Kvasir-SEG/images/*.jpg and Kvasir-SEG/kavsir_bboxes.json",
            num_labels=1,
            train_images=640,
            notes=note,
            tags=("figure-4",),
        ),
    ]


PROTOCOLS: dict[str, Protocol] = {
    p.name: p
    for p in (
        _classification_protocols()
        + _segmentation_protocols()
        + _prostate_protocols()
        + _detection_protocols()
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

"""The paper's protocols: registry facts, split rules on real file names, every protocol end to end.

Fixtures follow each dataset's public layout (sources named per builder below), not the code:
- Brain Tumor Classification (MRI), Kaggle (Sartaj Bhuvaji): Training/ and Testing/ with the class
  folders glioma_tumor, meningioma_tumor, no_tumor, pituitary_tumor; files "gg (1).jpg", "m (1).jpg",
  "image(1).jpg", "p (1).jpg".
- FGADR-Seg-Set: Seg-set/Original_Images/<nnnn>_<k>.png and Seg-set/DR_Seg_Grading_Label.csv; the real
  names and grades used below are those of the authors' files_split/fgadr_pkl_file.pkl (LVM-Med repo).
- Kvasir-SEG: images/<id>.jpg, masks/<id>.jpg, kavsir_bboxes.json ({id: {height, width, bbox: [{label,
  xmin, ymin, xmax, ymax}]}}); ids from the authors' files_split/Kvasir.json.
- BUSI (Dataset_BUSI_with_GT): <class>/<class> (<n>).png + "<class> (<n>)_mask.png" (+ "_mask_1.png");
  names from the authors' files_split/BUID.json.
- ISIC 2018 Task 1, DRIVE, JSRT (+ SCR masks), BraTS 2018, MM-WHS 2017, the multi-site prostate MRI
  (SAML) and VinDr-CXR train.csv: the layouts named in each protocol's ``download`` field.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch
from huggingface_hub import ModelCard
from PIL import Image
from sklearn.model_selection import train_test_split

from lvmmed_hf.downstream import protocol_data as PD
from lvmmed_hf.downstream.protocols import MMWHS_VOLUME_SPLIT, PROTOCOLS, get_protocol, protocol_table
from lvmmed_hf.downstream.run_protocol import run_protocol

RNG = np.random.default_rng(0)


def _rgb(path: Path, size=(40, 48), bright=False) -> None:
    arr = RNG.integers(0, 80, (*size, 3), dtype=np.uint8)
    if bright:
        arr[8:24, 8:24] = 230
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)


def _mask(path: Path, size=(40, 48), box=(8, 24, 8, 24), value=255, mode="L") -> None:
    m = np.zeros(size, np.uint8)
    m[box[0] : box[1], box[2] : box[3]] = value
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(m).convert(mode).save(path)


# ---------------------------------------------------------------------------------- layouts
BRAIN = {
    "glioma_tumor": ["gg (1).jpg", "gg (10).jpg", "gg (2).jpg", "gg (3).jpg"],
    "meningioma_tumor": ["m (1).jpg", "m (2).jpg", "m (3).jpg"],
    "no_tumor": ["image(1).jpg", "image(2).jpg", "image(3).jpg"],
    "pituitary_tumor": ["p (1).jpg", "p (2).jpg", "p (3).jpg"],
}


def make_brain(root: Path) -> Path:
    for split in ("Training", "Testing"):
        for cls, names in BRAIN.items():
            for n in names[: 4 if split == "Training" else 1]:
                _rgb(root / split / cls / n, bright=cls != "no_tumor")
    return root


# (name, grade) from the authors' fgadr_pkl_file.pkl; other names are filled with suffix _1.
FGADR_KNOWN = {
    "0001_2.png": 3,
    "0002_1.png": 2,
    "0003_3.png": 4,
    "0004_1.png": 2,
    "0005_1.png": 1,
    "1500_2.png": 2,
    "1501_3.png": 3,
    "1502_1.png": 2,
}


def make_fgadr(root: Path, names: list[str]) -> Path:
    img_dir = root / "Seg-set" / "Original_Images"
    img_dir.mkdir(parents=True)
    with open(root / "Seg-set" / "DR_Seg_Grading_Label.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        for i, n in enumerate(names):
            Image.fromarray(np.full((8, 8, 3), i % 250, np.uint8)).save(img_dir / n)
            w.writerow([n, FGADR_KNOWN.get(n, i % 5)])
    return root


KVASIR = {
    "train": ["cju5wphwwlu3m0987hh3ltg88", "cju8aj01yqeqm0850lhdz3xdw", "cju2lz8vqktne0993fuym6drw"],
    "valid": ["cju5vgawslbe30987ndeepc1b", "ck2bxlujamu330725szlc2jdu", "cju2hx006vidl0799igm81vmh"],
    "test": ["cju8abobpqbir08189u01huru", "cju8axq24r4an0755yhv9d4ly", "cju5cu8qkb84x08186jwo8yin"],
}


def make_kvasir(root: Path) -> tuple[Path, Path]:
    base = root / "Kvasir-SEG"
    boxes = {}
    for ids in KVASIR.values():
        for i in ids:
            _rgb(base / "images" / f"{i}.jpg", bright=True)
            _mask(base / "masks" / f"{i}.jpg", mode="RGB")
            boxes[i] = {
                "height": 40,
                "width": 48,
                "bbox": [{"label": "polyp", "xmin": 8, "ymin": 8, "xmax": 24, "ymax": 24}],
            }
    (base / "kavsir_bboxes.json").write_text(json.dumps(boxes))
    split = root / "Kvasir.json"
    split.write_text(json.dumps({k: [f"{i}.jpg" for i in v] for k, v in KVASIR.items()}))
    return root, split


BUID = {
    "train": ["benign (298).png", "benign (420).png", "malignant (113).png"],
    "valid": ["benign (205).png", "benign (115).png"],
    "test": ["malignant (109).png", "benign (275).png"],
}


def make_buid(root: Path) -> tuple[Path, Path]:
    base = root / "Dataset_BUSI_with_GT"
    for names in BUID.values():
        for n in names:
            cls, stem = n.split(" ")[0], n[: -len(".png")]
            _rgb(base / cls / n, bright=True)
            _mask(base / cls / f"{stem}_mask.png", box=(8, 16, 8, 24))
    # A second lesion of one image: its mask must be merged with the first.
    _mask(base / "benign" / "benign (298)_mask_1.png", box=(30, 36, 30, 40))
    _rgb(base / "normal" / "normal (1).png")  # left out, as the authors do
    _mask(base / "normal" / "normal (1)_mask.png", box=(0, 0, 0, 0))
    split = root / "BUID.json"
    split.write_text(json.dumps(BUID))
    return root, split


def make_isic(root: Path) -> Path:
    ids = {
        "Training": ["0000000", "0000001", "0000003", "0000004"],
        "Validation": ["0012255"],
        "Test": ["0012236", "0012247"],
    }
    for split, names in ids.items():
        for i in names:
            _rgb(root / f"ISIC2018_Task1-2_{split}_Input" / f"ISIC_{i}.jpg", bright=True)
            _mask(root / f"ISIC2018_Task1_{split}_GroundTruth" / f"ISIC_{i}_segmentation.png")
    return root


def make_drive(root: Path) -> Path:
    for split, nums in (("training", range(21, 26)), ("test", range(1, 3))):
        for n in nums:
            _rgb(root / "DRIVE" / split / "images" / f"{n:02d}_{split}.tif", bright=True)
            _mask(root / "DRIVE" / split / "1st_manual" / f"{n:02d}_manual1.gif")
    return root


def make_jsrt(root: Path) -> Path:
    names = ["JPCLN001", "JPCLN002", "JPCLN003", "JPCLN005"]
    (root / "All247images").mkdir(parents=True)
    for n in names:
        arr = RNG.integers(0, 4096, (2048, 2048)).astype(">u2")
        arr.tofile(root / "All247images" / f"{n}.IMG")
        for organ, box in (
            ("left lung", (200, 700, 100, 450)),
            ("right lung", (200, 700, 570, 920)),
            ("heart", (500, 800, 400, 650)),
            ("left clavicle", (100, 150, 100, 450)),
            ("right clavicle", (100, 150, 570, 920)),
        ):
            _mask(root / "scr" / "masks" / organ / f"{n}.gif", size=(1024, 1024), box=box)
    return root


def _nii(path: Path, arr: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(arr, np.eye(4)), str(path))


def _volume(shape=(32, 32, 6), value=1) -> tuple[np.ndarray, np.ndarray]:
    img = RNG.normal(100, 20, shape).astype(np.int16)
    lab = np.zeros(shape, np.int16)
    lab[8:20, 8:20, 2:5] = value
    img[lab > 0] += 200
    return img, lab


def make_brats(root: Path) -> Path:
    cases = {
        "HGG": ["Brats18_2013_2_1", "Brats18_CBICA_AAB_1", "Brats18_TCIA01_235_1"],
        "LGG": ["Brats18_2013_0_1", "Brats18_TCIA09_141_1"],
    }
    for grade, names in cases.items():
        for c in names:
            img, lab = _volume(value=2)
            lab[10:12, 10:12, 3] = 4
            d = root / "MICCAI_BraTS_2018_Data_Training" / grade / c
            _nii(d / f"{c}_flair.nii.gz", img)
            _nii(d / f"{c}_t1.nii.gz", img)
            _nii(d / f"{c}_seg.nii.gz", lab.astype(np.uint8))
    return root


def make_mmwhs(root: Path, prefix: str) -> Path:
    for vid in ("1001", "1003", "1004", "1002"):  # two train, one validation, one test volume
        img, lab = _volume(value=500)
        lab[14:18, 14:18, 2:5] = 205
        _nii(root / f"{prefix}_train" / f"{prefix}_train_{vid}_image.nii.gz", img)
        _nii(root / f"{prefix}_train" / f"{prefix}_train_{vid}_label.nii.gz", lab)
    return root


def make_prostate(root: Path) -> Path:
    for site, n in (("BMC", 5), ("RUNMC", 1), ("BIDMC", 1), ("HK", 1)):
        for k in range(n):
            img, lab = _volume()
            _nii(root / site / f"Case{k:02d}.nii.gz", img)
            seg = "Segmentation" if site in ("BIDMC", "HK") else "segmentation"
            _nii(root / site / f"Case{k:02d}_{seg}.nii.gz", lab.astype(np.uint8))
    return root


VINDR_IDS = [
    "000434271f63a053c4128a0ba6352c7f",
    "00053190460d56c53cc3e57321387478",
    "0005e8e3701dfb1dd93d53e2ff537b6e",
    "0007d316f756b3fa0baea2ff514ce945",
    "000d68e42b71d3eac10ccc077aba07c1",
    "00150343289f317a0ad5629d5b7d9ef9",
]


def make_vindr(root: Path) -> Path:
    (root / "train").mkdir(parents=True)
    rows = [
        [
            "image_id",
            "class_name",
            "class_id",
            "rad_id",
            "x_min",
            "y_min",
            "x_max",
            "y_max",
            "width",
            "height",
        ]
    ]
    for k, i in enumerate(VINDR_IDS):
        _rgb(root / "train" / f"{i}.png", size=(64, 64), bright=True)
        if k == 0:
            rows.append([i, "No finding", 14, "R1", "", "", "", "", 2048, 2048])
        else:  # boxes in the original 2048-px frame: 256..768 -> 8..24 at 64 px
            rows.append([i, "Nodule/Mass", 8, "R9", 256, 256, 768, 768, 2048, 2048])
    with open(root / "train.csv", "w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    return root


# ------------------------------------------------------------------------- registry facts
def test_registry_covers_the_papers_experiments():
    names = set(PROTOCOLS)
    for ds in ("brain-tumor", "fgadr"):
        assert {f"{ds}-linear", f"{ds}-finetune", f"{ds}-linear-fcns", f"{ds}-finetune-fcns"} <= names
    for d in ("isic2018", "jsrt", "kvasir", "drive", "buid", "brats", "mmwhs-ct", "mmwhs-mri"):
        assert {f"{d}-seg", f"{d}-sam"} <= names
    assert {"prostate-multisite-seg", "vindr-cxr-det", "kvasir-det"} <= names
    for p in PROTOCOLS.values():
        three_d = p.task == "segmentation-3d" or p.name in ("brats-sam", "mmwhs-ct-sam", "mmwhs-mri-sam")
        assert p.runs == (5 if three_d else 3), p.name
        assert p.metric in ("accuracy", "dice", "iou3d", "map50")
        assert p.layout in PD.LAYOUTS


def test_paper_figures_spot_checks():
    # Values typed from the paper's tables (Table 2, 3, 4, 5, 11, 12), independently of the registry code.
    assert get_protocol("kvasir-seg").paper["r50"].value == 86.76
    assert get_protocol("buid-sam").paper["vit"].value == 89.69
    assert get_protocol("mmwhs-mri-seg").paper["baseline"].value == 79.05  # Deepcluster beats LVM-Med here
    assert get_protocol("brain-tumor-finetune").paper["vit"].value == 67.34
    assert get_protocol("fgadr-finetune-fcns").paper["r50"].value == 70.58
    assert get_protocol("prostate-multisite-seg").paper["r50"].value == 63.0
    assert get_protocol("brats-sam").paper["baseline"].value == 85.37
    table = protocol_table()
    assert table.count("\n") == len(PROTOCOLS) + 1 and "| kvasir-seg |" in table and "86.76 ± 0.94" in table


def test_unknown_protocol_names_the_known_ones():
    with pytest.raises(KeyError, match="kvasir-seg"):
        get_protocol("kvasir")


# ------------------------------------------------------------------------------ split rules
def test_brain_tumor_split_reproduces_the_authors_code(tmp_path):
    ds = PD.brain_tumor(make_brain(tmp_path / "brain"), valid_rate=0.3)
    # The authors: ImageFolder(Training) (classes sorted, files sorted), then
    # train_test_split(..., random_state=42).
    order = [f"{c}/{n}" for c in sorted(BRAIN) for n in sorted(BRAIN[c][:4])]
    _, val_idx = train_test_split(list(range(len(order))), test_size=0.3, random_state=42)
    expected_val = sorted(order[i] for i in val_idx)
    names = ds["validation"].features["label"].names
    got_val = sorted(
        f"{names[lab]}/{Path(img['path']).name}"
        for img, lab in zip(
            ds["validation"].cast_column("image", ds["validation"].features["image"].__class__(decode=False))[
                "image"
            ],
            ds["validation"]["label"],
        )
    )
    assert got_val == expected_val
    assert len(ds["train"]) + len(ds["validation"]) == len(order) and len(ds["test"]) == 4
    assert names == sorted(BRAIN)


def test_fgadr_split_first_1500_names_train(tmp_path):
    names = [f"{k:04d}_1.png" for k in range(1, 1842)]
    for real in FGADR_KNOWN:  # the real suffixes where known
        names[int(real[:4]) - 1] = real
    ds = PD.fgadr(make_fgadr(tmp_path / "fgadr", names))
    from datasets import Image as ImageFeature

    def stems(split):
        return {
            Path(x["path"]).name for x in ds[split].cast_column("image", ImageFeature(decode=False))["image"]
        }

    train_side = stems("train") | stems("validation")
    assert len(train_side) == 1500 and len(stems("test")) == 341
    assert "1500_2.png" in train_side and "1501_3.png" in stems("test") and "0001_2.png" in train_side
    assert len(stems("validation")) == 300  # valid_rate 0.2 of 1,500
    # Grades from the CSV: 0001_2.png is grade 3 in the authors' pkl, 1501_3.png grade 3, 1502_1.png grade 2.
    grades = {}
    for split in ("train", "validation", "test"):
        paths = ds[split].cast_column("image", ImageFeature(decode=False))["image"]
        grades.update({Path(x["path"]).name: lab for x, lab in zip(paths, ds[split]["label"])})
    assert (grades["0001_2.png"], grades["1501_3.png"], grades["1502_1.png"]) == (3, 3, 2)


def test_authors_split_files_are_followed(tmp_path):
    root, split = make_kvasir(tmp_path / "kv")
    ds = PD.kvasir_seg(root, split_file=str(split))
    assert {k: len(v) for k, v in ds.items()} == {"train": 3, "validation": 3, "test": 3}
    root, split = make_buid(tmp_path / "buid")
    ds = PD.buid(root, split_file=str(split))
    assert {k: len(v) for k, v in ds.items()} == {"train": 3, "validation": 2, "test": 2}
    # "benign (298)" has two masks: the stored mask is their union.
    masks = [np.asarray(m) for m in ds["train"]["mask"]]
    areas = sorted(int(m.sum()) for m in masks)
    assert areas == [8 * 16, 8 * 16, 8 * 16 + 6 * 10]


def test_mmwhs_volumes_follow_the_authors_json(tmp_path):
    # Frame names of the authors' MMWHS_CT_Heart.json: a test frame, a valid frame, a train frame.
    for frame, side in (
        ("ct_train_1019_image_frame_29.png", "test"),
        ("ct_train_1007_image_frame_192.png", "validation"),
        ("ct_train_1020_image_frame_32.png", "train"),
    ):
        assert frame.split("_")[2] in MMWHS_VOLUME_SPLIT[side]
    ds = PD.mmwhs_ct(make_mmwhs(tmp_path / "mmwhs", "ct"))
    assert set(ds["test"]["volume_id"]) == {"ct_train_1002"} and set(ds["validation"]["volume_id"]) == {
        "ct_train_1004"
    }
    # Label values 205 (LV myocardium) and 500 (LV cavity) -> classes 1 and 3 (challenge documentation).
    assert set(np.unique(np.concatenate([np.asarray(m).ravel() for m in ds["test"]["mask"]]))) == {0, 1, 3}
    # Test keeps every slice; train is balanced: as many background slices as foreground ones.
    assert len(ds["test"]) == 6
    fg = [bool(np.asarray(m).any()) for m in ds["train"]["mask"]]
    assert sum(fg) == 6 and len(fg) == 12


def test_balanced_slices_rule():
    picked = PD.balanced_slices([False, True, True, False, False, True], seed=0)
    assert [i for i in picked if i in (1, 2, 5)] == [1, 2, 5] and len(picked) == 6
    assert all(i in (0, 3, 4) for i in picked if i not in (1, 2, 5))


def test_missing_data_dir_names_the_expected_layout(tmp_path):
    with pytest.raises(FileNotFoundError, match="Training"):
        PD.brain_tumor(tmp_path)
    with pytest.raises(FileNotFoundError, match="download"):
        PD.load_protocol_data(get_protocol("drive-seg"), tmp_path / "absent")


# ------------------------------------------------------------------------------- end to end
@pytest.fixture(scope="module")
def backbones(tmp_path_factory):
    import lvmmed_hf
    from lvmmed_hf.models.presets import preset_config

    root = tmp_path_factory.mktemp("backbones")
    torch.manual_seed(0)
    lvmmed_hf.LvmMedCnnModel(preset_config("tiny-cnn")).save_pretrained(root / "cnn")
    # the tiny ViT with a SAM-style neck, as the released ViT has one
    lvmmed_hf.LvmMedViTModel(preset_config("tiny-vit", use_neck=True, output_channels=32)).save_pretrained(
        root / "vit"
    )
    return {"cnn": root / "cnn", "vit": root / "vit"}


BUILDERS = {
    "brain-tumor": lambda d: (make_brain(d), None),
    "fgadr": lambda d: (make_fgadr(d, [f"{k:04d}_1.png" for k in range(1, 1511)]), None),
    "isic2018": lambda d: (make_isic(d), None),
    "jsrt": lambda d: (make_jsrt(d), None),
    "kvasir-seg": make_kvasir,
    "kvasir-det": make_kvasir,
    "drive": lambda d: (make_drive(d), None),
    "buid": make_buid,
    "brats2018": lambda d: (make_brats(d), None),
    "mmwhs-ct": lambda d: (make_mmwhs(d, "ct"), None),
    "mmwhs-mri": lambda d: (make_mmwhs(d, "mr"), None),
    "prostate": lambda d: (make_prostate(d), None),
    "vindr-cxr": lambda d: (make_vindr(d), None),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(PROTOCOLS))
def test_protocol_runs_end_to_end(name, tmp_path, backbones):
    p = get_protocol(name)
    family = p.families[0]
    data, split = BUILDERS[p.layout](tmp_path / "data")
    size = 64 if family == "vit" else 32
    heads = dict(num_queries=5, d_model=32, encoder_layers=1, decoder_layers=1, attention_heads=2, ffn_dim=32)
    extra = heads if p.task == "detection" else {}
    result = run_protocol(
        p,
        str(backbones[family]),
        data,
        tmp_path / "out",
        runs=1,
        split_file=str(split) if split else None,
        max_steps=1,
        batch_size=2,
        image_size=size,
        use_cpu=True,
        **extra,
    )
    assert len(result.scores) == 1 and 0.0 <= result.scores[0] <= 100.0
    saved = json.loads((tmp_path / "out" / "results.json").read_text())
    assert saved["protocol"] == name and saved["is_paper_protocol"] is False
    md = (tmp_path / "out" / "results.md").read_text()
    assert f"| {name} |" in md and "not the paper's protocol" in md
    if p.sites:
        assert set(saved["site_scores"]) == {"held-out training site", *p.sites}
    # The backbone's card gets a model-index entry that huggingface_hub parses back.
    card = ModelCard.load(backbones[family] / "README.md")
    entries = [e for e in card.data.eval_results if f"({name}," in (e.metric_name or "")]
    assert len(entries) == 1 and entries[0].metric_value == pytest.approx(result.mean, abs=1e-3)


def test_card_entry_is_replaced_not_duplicated(tmp_path, backbones):
    from lvmmed_hf.downstream.run_protocol import ProtocolResult, update_model_card

    folder = tmp_path / "bb"
    folder.mkdir()
    p = get_protocol("drive-seg")
    for v in (50.0, 60.0):
        update_model_card(folder, p, ProtocolResult(p.name, "cnn", "dice", [v], {}, 66.97, 0.27, None))
    card = ModelCard.load(folder / "README.md")
    assert [e.metric_value for e in card.data.eval_results] == [60.0]
    assert "model-index" in (folder / "README.md").read_text()


def test_cli_list_shows_every_protocol(capsys):
    from lvmmed_hf.cli import main

    assert main(["evaluate", "--list"]) == 0
    out = capsys.readouterr().out
    for name in PROTOCOLS:
        assert f"| {name} |" in out


def test_docs_table_equals_the_registry():
    doc = (Path(__file__).resolve().parents[2] / "docs" / "protocols.md").read_text()
    start, end = "<!-- protocol-table:start -->\n", "\n<!-- protocol-table:end -->"
    assert doc[doc.index(start) + len(start) : doc.index(end)] == protocol_table()


def test_cli_errors_are_one_line_with_exit_code_2(capsys, tmp_path, monkeypatch):
    from lvmmed_hf.cli import main

    monkeypatch.chdir(tmp_path)  # the default output folder is relative to the current directory
    assert main(["evaluate", "kvasir"]) == 2
    err = capsys.readouterr().err
    assert "unknown protocol 'kvasir'" in err and "kvasir-seg" in err and "Traceback" not in err
    assert main(["evaluate", "kvasir-seg"]) == 2
    assert "--backbone and --data-dir are required" in capsys.readouterr().err
    assert main(["evaluate", "kvasir-seg", "--backbone", "tiny-cnn", "--data-dir", str(tmp_path / "no")]) == 2
    assert "Kvasir" in capsys.readouterr().err


def test_failed_run_leaves_no_output_folder(capsys, tmp_path, monkeypatch):
    from lvmmed_hf.cli import main

    monkeypatch.chdir(tmp_path)
    missing = ["--backbone", "tiny-cnn", "--data-dir", str(tmp_path / "no")]
    assert main(["evaluate", "drive-seg", *missing]) == 2
    assert main(["evaluate", "drive-seg", *missing, "--output-dir", str(tmp_path / "out")]) == 2
    assert "DRIVE" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []

"""ISIC 2019: Training_Input/*.jpg + one-hot GroundTruth CSV + Metadata (lesion_id groups the 20% sample)."""

from collections import Counter

from _fixtures_images import (
    assert_base_columns,
    assert_missing,
    assert_sampled_by_patient,
    labels_by_path,
    paths_of,
    write_image,
    write_list,
    write_text,
)

CLASSES = ["MEL", "NV", "BCC", "AK", "BKL", "DF", "VASC", "SCC", "UNK"]
IMAGES = [
    ("ISIC_0024763", "AK", "HAM_0000118"),
    ("ISIC_0024948", "AK", "HAM_0000118"),
    ("ISIC_0026040", "BCC", "HAM_0002"),
    ("ISIC_0000000_downsampled", "NV", ""),
    ("ISIC_0061878", "VASC", "BCN_0001"),
    ("ISIC_0071383", "VASC", "BCN_0002"),
    ("ISIC_0053000", "MEL", "BCN_0003"),
    ("ISIC_0053001", "DF", "BCN_0004"),
    ("ISIC_0053002", "SCC", "BCN_0005"),
    ("ISIC_0053003", "BKL", "BCN_0006"),
    ("ISIC_0053004", "NV", "BCN_0007"),
    ("ISIC_0053005", "NV", "BCN_0007"),
]


def make(root):
    gt, meta = ["image," + ",".join(CLASSES)], ["image,age_approx,anatom_site_general,lesion_id,sex"]
    for i, (name, cls, lesion) in enumerate(IMAGES):
        write_image(root / "ISIC_2019_Training_Input" / f"{name}.jpg", i)
        iid = name.replace("_downsampled", "")
        gt.append(iid + "," + ",".join("1.0" if c == cls else "0.0" for c in CLASSES))
        meta.append(f"{iid},55,anterior torso,{lesion},male")
    write_text(root / "ISIC_2019_Training_GroundTruth.csv", "\n".join(gt) + "\n")
    write_text(root / "ISIC_2019_Training_Metadata.csv", "\n".join(meta) + "\n")
    return {
        f"ISIC_2019_Training_Input/{n}.jpg": (c, les or n.replace("_downsampled", "")) for n, c, les in IMAGES
    }


def test_sample_by_lesion_and_labels(tmp_path, prepare_load):
    truth = make(tmp_path / "raw")
    ds, _ = prepare_load("isic2019", tmp_path / "raw", tmp_path / "out")
    assert_base_columns(ds, "isic2019", "dermoscopy", "skin")
    assert ds.features["label"].names == CLASSES
    assert_sampled_by_patient(ds, Counter(g for _, g in truth.values()))
    assert labels_by_path(ds) == {p: truth[p][0] for p in ds["original_path"]}


def test_class_prefixed_list(tmp_path, prepare_load):
    make(tmp_path / "raw")
    # LVM-Med's list: <CLASS>_ISIC_<id>.jpg, with "MV" written for NV
    entries = ["AK_ISIC_0024948.jpg", "MV_ISIC_0053004.jpg", "VASC_ISIC_0071383.jpg"]
    ds, report = prepare_load(
        "isic2019", tmp_path / "raw", tmp_path / "out", file_list=str(write_list(tmp_path / "l.txt", entries))
    )
    assert paths_of(ds) == sorted(f"ISIC_2019_Training_Input/{e.split('_', 1)[1]}" for e in entries)
    assert report.list_entries_unmatched == 0


def test_missing_ground_truth(tmp_path):
    make(tmp_path / "raw")
    (tmp_path / "raw" / "ISIC_2019_Training_GroundTruth.csv").unlink()
    assert_missing("isic2019", tmp_path / "raw", tmp_path / "out", "ISIC_2019_Training_GroundTruth.csv")

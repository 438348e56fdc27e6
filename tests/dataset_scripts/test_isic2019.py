"""ISIC 2019: Training_Input/*.jpg + one-hot GroundTruth CSV + Metadata (lesion_id groups the 20% sample)."""

from collections import Counter

from _coverage import (
    TreeWriter,
    assert_full_coverage,
    list_coverage,
    list_lines,
    make_builder,
    reference_list,
)
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
# Real rows of ISIC_2019_Training_GroundTruth.csv as FLamby's fed_isic2019 split file republishes
# them (header image,MEL,NV,BCC,AK,BKL,DF,VASC,SCC,UNK): the ``image`` column keeps the
# ``_downsampled`` suffix of the MSK images, exactly as the file is named. Lesion ids follow the
# metadata's HAM_/BCN_/MSK_ forms (values made up; two images share a lesion).
IMAGES = [
    ("ISIC_0065613", "NV", "BCN_0000001"),
    ("ISIC_0058767", "BCC", "BCN_0000002"),
    ("ISIC_0032511", "MEL", "HAM_0000118"),
    ("ISIC_0029079", "NV", "HAM_0000118"),
    ("ISIC_0065450", "AK", "BCN_0000003"),
    ("ISIC_0033847", "DF", "HAM_0000200"),
    ("ISIC_0070703", "VASC", "BCN_0000004"),
    ("ISIC_0061148", "SCC", "BCN_0000005"),
    ("ISIC_0062257", "BKL", "BCN_0000006"),
    ("ISIC_0012669_downsampled", "NV", "MSK4_0000001"),
    ("ISIC_0014233_downsampled", "MEL", "MSK4_0000002"),
    ("ISIC_0013364_downsampled", "BKL", ""),
]


def make(root):
    gt, meta = ["image," + ",".join(CLASSES)], ["image,age_approx,anatom_site_general,lesion_id,sex"]
    for i, (name, cls, lesion) in enumerate(IMAGES):
        write_image(root / "ISIC_2019_Training_Input" / f"{name}.jpg", i)
        gt.append(name + "," + ",".join("1.0" if c == cls else "0.0" for c in CLASSES))
        meta.append(f"{name},55.0,anterior torso,{lesion},male")
    write_text(root / "ISIC_2019_Training_GroundTruth.csv", "\n".join(gt) + "\n")
    write_text(root / "ISIC_2019_Training_Metadata.csv", "\n".join(meta) + "\n")
    return {f"ISIC_2019_Training_Input/{n}.jpg": (c, les or n) for n, c, les in IMAGES}


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
    entries = ["AK_ISIC_0065450.jpg", "MV_ISIC_0065613.jpg", "MV_ISIC_0012669_downsampled.jpg"]
    ds, report = prepare_load(
        "isic2019", tmp_path / "raw", tmp_path / "out", file_list=str(write_list(tmp_path / "l.txt", entries))
    )
    assert paths_of(ds) == sorted(f"ISIC_2019_Training_Input/{e.split('_', 1)[1]}" for e in entries)
    assert report.list_entries_unmatched == 0


def test_missing_ground_truth(tmp_path):
    make(tmp_path / "raw")
    (tmp_path / "raw" / "ISIC_2019_Training_GroundTruth.csv").unlink()
    assert_missing("isic2019", tmp_path / "raw", tmp_path / "out", "ISIC_2019_Training_GroundTruth.csv")


def test_every_image_gets_its_label_downsampled_included(tmp_path):
    truth = make(tmp_path / "raw")
    b = make_builder("isic2019", tmp_path / "raw", tmp_path / "cache")
    records = list(b.iter_records(tmp_path / "raw"))
    got = {r.paths[0].relative_to(tmp_path / "raw").as_posix(): r.label for r in records}
    assert got == {p: c for p, (c, _) in truth.items()}
    assert {r.patient_id for r in records} == {g for _, g in truth.values()}


# LVM-Med's list names <CLASS>_<image>.jpg with MV for NV; the class is therefore an independent
# oracle for the label the builder reads from the ground-truth CSV.
LIST_CLASS = {"MV": "NV"}


def test_lvmmed_list_every_entry_mapped_and_labelled(list_tmp):
    """All 5,101 entries of ISIC2019_Color_Skin (411 of them ``_downsampled``) select one image each,
    and each image's label is the class LVM-Med's list gives it."""
    lines = list_lines("ISIC2019_Color_Skin")
    raw = list_tmp / "raw"
    w = TreeWriter(raw)
    gt = ["image," + ",".join(CLASSES)]
    expected = {}
    for e in lines:
        prefix, name = e.split("_", 1)
        cls = LIST_CLASS.get(prefix, prefix)
        stem = name[: -len(".jpg")]
        w.write(f"ISIC_2019_Training_Input/{name}")
        gt.append(stem + "," + ",".join("1.0" if c == cls else "0.0" for c in CLASSES))
        expected[f"ISIC_2019_Training_Input/{name}"] = cls
    write_text(raw / "ISIC_2019_Training_GroundTruth.csv", "\n".join(gt) + "\n")
    cov = list_coverage("isic2019", raw, reference_list("ISIC2019_Color_Skin"), list_tmp / "cache")
    assert_full_coverage(cov)
    assert cov.summary() == {"entries": 5101, "mapped": 5101, "excluded": {}}
    got = {r.paths[0].relative_to(raw).as_posix(): r.label for r in cov.records}
    assert got == expected
    downsampled = [p for p in got if p.endswith("_downsampled.jpg")]
    assert len(downsampled) == 411 and all(got[p] is not None for p in downsampled)

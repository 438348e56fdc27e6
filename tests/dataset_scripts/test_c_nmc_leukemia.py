"""C-NMC 2019: training_data/fold_<k>/{all,hem}/UID_*.bmp (official training folds only)."""

from _fixtures_images import (
    assert_base_columns,
    assert_missing,
    labels_by_path,
    paths_of,
    write_image,
    write_list,
)

FILES = {  # real name patterns from the LVM-Med list
    "fold_0/all/UID_44_35_2_all.bmp": ("all", "UID_44"),
    "fold_0/all/UID_44_36_1_all.bmp": ("all", "UID_44"),
    "fold_0/hem/UID_H15_23_12_hem.bmp": ("hem", "UID_H15"),
    "fold_1/all/UID_50_30_3_all.bmp": ("all", "UID_50"),
    "fold_2/hem/UID_H40_20_5_hem.bmp": ("hem", "UID_H40"),
}


def make(root):
    base = root / "C-NMC_Leukemia" / "training_data"
    for i, rel in enumerate(FILES):
        write_image(base / rel, i)
    write_image(root / "C-NMC_Leukemia" / "validation_data" / "C-NMC_test_prelim_phase_data" / "1.bmp", 99)


def test_folds_labels_patients(tmp_path, prepare_load):
    make(tmp_path / "raw")
    ds, _ = prepare_load("c_nmc_leukemia", tmp_path / "raw", tmp_path / "out")
    assert_base_columns(ds, "c_nmc_leukemia", "microscopy", "blood cells")
    want = {f"C-NMC_Leukemia/training_data/{k}": v for k, v in FILES.items()}
    assert paths_of(ds) == sorted(want)  # validation data excluded, nothing sampled away
    assert labels_by_path(ds) == {k: v[0] for k, v in want.items()}
    assert dict(zip(ds["original_path"], ds["patient_id"])) == {k: v[1] for k, v in want.items()}


def test_tcia_package_layout(tmp_path, prepare_load):
    base = tmp_path / "raw" / "C-NMC 2019 (PKG)" / "C-NMC_training_data"
    write_image(base / "fold_0" / "all" / "UID_11_10_1_all.bmp", 0)
    write_image(base / "fold_2" / "hem" / "UID_H10_1_1_hem.bmp", 1)
    ds, _ = prepare_load("c_nmc_leukemia", tmp_path / "raw", tmp_path / "out")
    assert labels_by_path(ds) == {
        "C-NMC 2019 (PKG)/C-NMC_training_data/fold_0/all/UID_11_10_1_all.bmp": "all",
        "C-NMC 2019 (PKG)/C-NMC_training_data/fold_2/hem/UID_H10_1_1_hem.bmp": "hem",
    }


def test_file_list(tmp_path, prepare_load):
    make(tmp_path / "raw")
    ds, _ = prepare_load(
        "c_nmc_leukemia",
        tmp_path / "raw",
        tmp_path / "out",
        file_list=str(write_list(tmp_path / "l.txt", ["UID_44_35_2_all.bmp", "UID_H40_20_5_hem.bmp"])),
    )
    assert [p.rsplit("/", 1)[1] for p in paths_of(ds)] == ["UID_44_35_2_all.bmp", "UID_H40_20_5_hem.bmp"]


def test_wrong_layout(tmp_path):
    write_image(tmp_path / "raw" / "training_data" / "all" / "UID_1_1_1_all.bmp", 0)  # fold folder missing
    assert_missing("c_nmc_leukemia", tmp_path / "raw", tmp_path / "out", "fold_<k>")

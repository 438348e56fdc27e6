"""BraTS 2018 on the training zip's layout: {HGG,LGG}/<case>/<case>_{t1,t1ce,t2,flair,seg}.nii.gz."""

from __future__ import annotations

import numpy as np
import pytest
from _fixtures_volumes import decode, expected_axial_slice, label_volume, random_volume, write_nifti

from lvmmed_hf.data.builder import SourceDataMissingError

# real case names from LVM-Med's 0_SSL_BraTS2018_Brain list (grades as in the BraTS 2018 release)
CASES = {
    "Brats18_CBICA_ANZ_1": "HGG",
    "Brats18_TCIA01_235_1": "HGG",
    "Brats18_CBICA_AOZ_1": "HGG",
    "Brats18_TCIA10_241_1": "LGG",
    "Brats18_TCIA13_633_1": "LGG",
}
SEQS = ("t1", "t1ce", "t2", "flair")


def make_brats(root):
    top = root / "MICCAI_BraTS_2018_Data_Training"
    for n, (case, grade) in enumerate(CASES.items()):
        d = top / grade / case
        for s, seq in enumerate(SEQS):
            write_nifti(d / f"{case}_{seq}.nii.gz", random_volume(10 * n + s, low=0, high=900))
        write_nifti(d / f"{case}_seg.nii.gz", label_volume(n_classes=5))
    (top / "survival_data.csv").write_text("BraTS18ID,Age,Survival,ResectionStatus\n")


def test_brats_sample_by_case(tmp_path, prepare_load):
    make_brats(tmp_path / "raw")
    ds, report = prepare_load("brats2018", tmp_path / "raw", tmp_path / "out")
    assert report.records_found == 20  # 5 cases x 4 sequences; the segmentation is not an image
    (case,) = set(ds["patient_id"])  # round(0.2 * 5) = 1 case, with all its sequences
    assert case in CASES and len(ds) == 12
    assert sorted(set(ds["volume_id"])) == sorted(f"{case}_{s}" for s in SEQS)
    names = ds.features["label"].names
    assert names == ["HGG", "LGG"] and {names[i] for i in ds["label"]} == {CASES[case]}
    assert set(ds["modality"]) == {"MRI"} and set(ds["organ"]) == {"brain"}
    lab = label_volume(n_classes=5)
    for ex in ds:
        np.testing.assert_array_equal(decode(ex["mask"]), expected_axial_slice(lab, ex["slice_index"]))
        assert (
            ex["original_path"]
            == f"MICCAI_BraTS_2018_Data_Training/{CASES[case]}/{case}/{ex['volume_id']}.nii.gz"
        )


def test_brats_file_list_of_case_names(tmp_path, prepare_load):
    make_brats(tmp_path / "raw")
    lst = tmp_path / "0_SSL_BraTS2018_Brain.txt"
    lst.write_text("Brats18_TCIA01_235_1\nBrats18_TCIA13_633_1\nBrats18_CBICA_ZZZ_1\n")  # last one absent
    ds, report = prepare_load(
        "brats2018",
        tmp_path / "raw" / "MICCAI_BraTS_2018_Data_Training",
        tmp_path / "out",
        file_list=str(lst),
    )
    assert sorted(set(ds["patient_id"])) == ["Brats18_TCIA01_235_1", "Brats18_TCIA13_633_1"]
    assert len(ds) == 2 * 4 * 3 and report.list_entries_unmatched == 1
    names = ds.features["label"].names
    assert {(p, names[lab]) for p, lab in zip(ds["patient_id"], ds["label"])} == {
        ("Brats18_TCIA01_235_1", "HGG"),
        ("Brats18_TCIA13_633_1", "LGG"),
    }


def test_brats_wrong_layout(tmp_path, prepare_load):
    # cases without the HGG/LGG grade folders are not the distributed layout
    case = "Brats18_CBICA_ANZ_1"
    write_nifti(tmp_path / "raw" / case / f"{case}_t1.nii.gz", random_volume(0))
    with pytest.raises(SourceDataMissingError, match=r"HGG,LGG"):
        prepare_load("brats2018", tmp_path / "raw", tmp_path / "out")

"""CBIS-DDSM on the TCIA layout: real case folders, both file namings, CSV pathology labels, UID file list.

The full mammogram of ``Mass-Training_P_00001_LEFT_CC`` carries its real SeriesInstanceUID (line 834 of
LVM-Med's list) and real descriptive folder names; the list test selects images by series UID.
"""

from __future__ import annotations

import numpy as np
import pytest
from pydicom.uid import generate_uid

from lvmmed_hf.data.builder import FileListError

try:
    from ._fixtures_tcia import check_missing_layout, prepare_and_load, write_2d
except ImportError:  # tests/dataset_scripts is not a package (pytest's default "prepend" import mode)
    from _fixtures_tcia import check_missing_layout, prepare_and_load, write_2d

P1_CC_SERIES = "1.3.6.1.4.1.9590.100.1.2.342386194811267636608694132590482924515"
P1_CC_STUDY = "1.3.6.1.4.1.9590.100.1.2.422112722213189649807611434612228974994"

# case folder -> (relative file under it, series UID or None for a fresh one)
TRAIN_FULL = {
    "Mass-Training_P_00001_LEFT_CC": (
        "07-20-2016-DDSM-74994/1-full mammogram images-24515/000000.dcm",
        P1_CC_SERIES,
    ),
    "Mass-Training_P_00001_LEFT_MLO": (
        None,
        None,
    ),  # classic: <StudyInstanceUID>/<SeriesInstanceUID>/000000.dcm
    "Calc-Training_P_00005_RIGHT_CC": ("08-07-2016-DDSM-23157/1-full mammogram images-38548/1-1.dcm", None),
    "Calc-Training_P_00005_RIGHT_MLO": ("08-07-2016-DDSM-33333/1-full mammogram images-44444/1-1.dcm", None),
    "Mass-Training_P_00004_LEFT_CC": ("09-20-2016-DDSM-11111/1-full mammogram images-22222/1-1.dcm", None),
    "Calc-Training_P_00009_RIGHT_CC": ("09-06-2017-DDSM-55555/1-full mammogram images-66666/1-1.dcm", None),
}
OTHER = {
    "Mass-Training_P_00001_LEFT_CC_1": [
        "07-21-2016-DDSM-10001/1-ROI mask images-20001/000000.dcm",
        "07-21-2016-DDSM-10001/1-cropped images-20002/000000.dcm",
    ],
    "Mass-Test_P_00016_LEFT_CC": ["10-04-2016-DDSM-30104/1-full mammogram images-14172/000000.dcm"],
    "Calc-Test_P_00038_LEFT_CC": ["08-29-2017-DDSM-96009/1-full mammogram images-63992/000000.dcm"],
    "Calc-Test_P_00038_LEFT_CC_1": ["08-29-2017-DDSM-94942/1-ROI mask images-18515/000000.dcm"],
}
HEAD = (
    "patient_id,breast_density,left or right breast,image view,abnormality id,abnormality type,mass shape,"
    "mass margins,assessment,pathology,subtlety,image file path,cropped image file path,ROI mask file path"
)


def _write_fixture(raw):
    coll = raw / "manifest-1600000000000" / "CBIS-DDSM"
    series, arrays = {}, {}
    for case, (rel, uid) in TRAIN_FULL.items():
        uid = uid or generate_uid()
        if rel is None:
            rel = f"{generate_uid()}/{uid}/000000.dcm"
        study = P1_CC_STUDY if uid == P1_CC_SERIES else None
        arrays[case] = write_2d(
            coll / case / rel, modality="MG", patient_id=case, study_uid=study, series_uid=uid
        )
        series[case] = uid
    for case, rels in OTHER.items():
        for rel in rels:
            write_2d(coll / case / rel, modality="MG", patient_id=case)
    p1 = f"Mass-Training_P_00001_LEFT_CC/{P1_CC_STUDY}/{P1_CC_SERIES}/000000.dcm"
    (coll.parent / "mass_case_description_train_set.csv").write_text(
        "\n".join(
            [
                HEAD,
                (
                    f"P_00001,3,LEFT,CC,1,mass,IRREGULAR,SPICULATED,4,MALIGNANT,4,{p1},Mass-Training_P_00001_LEFT_CC_1/x/y/000000.dcm,"
                    "Mass-Training_P_00001_LEFT_CC_1/x/z/000001.dcm"
                ),
                "P_00001,3,LEFT,MLO,1,mass,IRREGULAR,SPICULATED,4,BENIGN,4,Mass-Training_P_00001_LEFT_MLO/a/b/000000.dcm,,",
                (
                    "P_00004,3,LEFT,CC,1,mass,ARCHITECTURAL_DISTORTION,ILL_DEFINED,4,BENIGN_WITHOUT_CALLBACK,3,"
                    "Mass-Training_P_00004_LEFT_CC/a/b/000000.dcm,,"
                ),
            ]
        )
        + "\n"
    )
    (coll.parent / "calc_case_description_train_set.csv").write_text(
        "\n".join(
            [
                HEAD.replace("breast_density", "breast density"),
                "P_00005,3,RIGHT,CC,1,calcification,AMORPHOUS,CLUSTERED,3,BENIGN,3,Calc-Training_P_00005_RIGHT_CC/a/b/000000.dcm,,",
                "P_00005,3,RIGHT,CC,2,calcification,PLEOMORPHIC,SEGMENTAL,5,MALIGNANT,3,Calc-Training_P_00005_RIGHT_CC/a/b/000000.dcm,,",
                "P_00005,3,RIGHT,MLO,1,calcification,AMORPHOUS,CLUSTERED,3,BENIGN,3,Calc-Training_P_00005_RIGHT_MLO/a/b/000000.dcm,,",
            ]
        )
        + "\n"
    )
    return coll, series, arrays


def test_cbis_ddsm(tmp_path):
    raw = tmp_path / "raw"
    _coll, series, arrays = _write_fixture(raw)
    ds, report = prepare_and_load("cbis_ddsm", raw, tmp_path / "all", sample_fraction=1.0)
    assert len(ds) == len(TRAIN_FULL)  # Training full mammograms only
    # Test cases (2 full + 1 ROI) are the benchmark partition; the training ROI mask + crop are derived images
    assert report.skipped["not_in_split"] == 3 and report.skipped["roi_or_crop"] == 2
    names = ds.features["label"].names
    assert names == ["benign_without_callback", "benign", "malignant"]
    got = {
        p.split("/")[2]: (names[lab] if lab is not None else None, pid, vid)
        for p, lab, pid, vid in zip(ds["original_path"], ds["label"], ds["patient_id"], ds["volume_id"])
    }
    expected_labels = {
        "Mass-Training_P_00001_LEFT_CC": "malignant",
        "Mass-Training_P_00001_LEFT_MLO": "benign",
        "Calc-Training_P_00005_RIGHT_CC": "malignant",
        "Calc-Training_P_00005_RIGHT_MLO": "benign",
        "Mass-Training_P_00004_LEFT_CC": "benign_without_callback",
        "Calc-Training_P_00009_RIGHT_CC": None,
    }
    assert got == {
        case: (expected_labels[case], case.split("_", 1)[1][:7], series[case]) for case in TRAIN_FULL
    }
    assert set(ds["modality"]) == {"mammography"} and set(ds["organ"]) == {"breast"}
    for row in ds:
        case = row["original_path"].split("/")[2]
        assert np.array_equal(np.asarray(row["image"]).astype(np.int64), arrays[case].astype(np.int64))

    ds20, _ = prepare_and_load("cbis_ddsm", raw, tmp_path / "p20")
    kept = set(ds20["patient_id"])
    assert len(kept) == 1  # round(0.2 * 4 patients)
    assert len(ds20) == sum(1 for case in TRAIN_FULL if case.split("_", 1)[1][:7] in kept)

    # LVM-Med's list: series UIDs, one per line (one real UID, one that is not in the fixture)
    lst = tmp_path / "CBIS-DDSM_Mammography_Breast.txt"
    lst.write_text(
        f"{P1_CC_SERIES}\n{series['Calc-Training_P_00005_RIGHT_MLO']}\n1.3.6.1.4.1.9590.100.1.2.1\n"
    )
    dsl, reportl = prepare_and_load("cbis_ddsm", raw, tmp_path / "list", file_list=str(lst))
    assert sorted(dsl["volume_id"]) == sorted([P1_CC_SERIES, series["Calc-Training_P_00005_RIGHT_MLO"]])
    assert reportl.list_entries_unmatched == 1
    assert reportl.skipped["not_in_list"] == len(TRAIN_FULL) + sum(len(v) for v in OTHER.values()) - 2
    bad = tmp_path / "bad.txt"
    bad.write_text("1.2.3.4\n")
    with pytest.raises(FileListError):
        prepare_and_load("cbis_ddsm", raw, tmp_path / "bad", file_list=str(bad))


def test_cbis_ddsm_missing_layout(tmp_path):
    check_missing_layout(tmp_path, "cbis_ddsm", dicom_not_in_patient_folder=True)


def test_cbis_ddsm_kaggle_jpeg(tmp_path):
    from PIL import Image

    raw = tmp_path / "cbis-ddsm-breast-cancer-image-dataset"
    cases = {  # series UID -> (case folder, series description)
        P1_CC_SERIES: ("Mass-Training_P_00001_LEFT_CC", "full mammogram images"),
        generate_uid(): ("Calc-Training_P_00005_RIGHT_CC", "full mammogram images"),
        generate_uid(): ("Mass-Training_P_00001_LEFT_CC_1", "cropped images"),
        generate_uid(): ("Mass-Test_P_00016_LEFT_CC", "full mammogram images"),
    }
    stray = generate_uid()  # a folder dicom_info.csv does not name
    rng = np.random.default_rng(3)
    arrays = {}
    for uid in [*cases, stray]:
        arr = rng.integers(0, 256, (16, 12), dtype=np.uint8)
        (raw / "jpeg" / uid).mkdir(parents=True)
        Image.fromarray(arr).save(raw / "jpeg" / uid / "1-249.png")  # lossless stand-in, renamed below
        (raw / "jpeg" / uid / "1-249.png").rename(raw / "jpeg" / uid / "1-249.jpg")
        arrays[uid] = arr
    (raw / "csv").mkdir()
    (raw / "csv/dicom_info.csv").write_text(
        "file_path,image_path,PatientID,SeriesDescription,SeriesInstanceUID\n"
        + "".join(
            f"CBIS-DDSM/dicom/{u}/1-249.dcm,CBIS-DDSM/jpeg/{u}/1-249.jpg,{c},{d},{u}\n"
            for u, (c, d) in cases.items()
        )
    )
    (raw / "csv/mass_case_description_train_set.csv").write_text(
        HEAD + "\nP_00001,3,LEFT,CC,1,mass,OVAL,CIRCUMSCRIBED,4,MALIGNANT,4,"
        f"Mass-Training_P_00001_LEFT_CC/{P1_CC_STUDY}/{P1_CC_SERIES}/000000.dcm,,\n"
    )
    ds, report = prepare_and_load("cbis_ddsm", raw, tmp_path / "all", sample_fraction=1.0)
    by_uid = {v: (pid, lab) for v, pid, lab in zip(ds["volume_id"], ds["patient_id"], ds["label"])}
    train_full = [
        u
        for u, (c, _) in cases.items()
        if c.startswith(("Mass-Training", "Calc-Training")) and c.count("_") == 4
    ]
    assert sorted(by_uid) == sorted(train_full)
    assert by_uid[P1_CC_SERIES] == ("P_00001", 2)  # malignant
    assert (
        report.skipped["unknown_case"] == 1
        and report.skipped["not_in_split"] == 1
        and report.skipped["roi_or_crop"] == 1
    )
    for row in ds:
        assert np.array_equal(np.asarray(row["image"]), arrays[row["volume_id"]])
    lst = tmp_path / "CBIS-DDSM_Mammography_Breast.txt"
    lst.write_text(f"{P1_CC_SERIES}\n")
    dsl, _ = prepare_and_load("cbis_ddsm", raw, tmp_path / "list", file_list=str(lst))
    assert dsl["volume_id"] == [P1_CC_SERIES] and dsl["original_path"] == [f"jpeg/{P1_CC_SERIES}/1-249.jpg"]

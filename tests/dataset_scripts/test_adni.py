"""ADNI1 1.5T and 3T: LVM-Med's flat I<image>_<group>.nii export and the native IDA download tree."""

from __future__ import annotations

import pytest
from _fixtures_volumes import random_volume, write_nifti

from lvmmed_hf.data.builder import SourceDataMissingError

NATIVE = (
    "ADNI/002_S_0295/MPR__GradWarp__B1_Correction__N3__Scaled/2006-11-02_08_16_44.0/I40966/"
    "ADNI_002_S_0295_MR_MPR__GradWarp__B1_Correction__N3__Scaled_Br_20070219173850420_S21856_I40966.nii"
)
FLAT = {"I119322": "CN", "I48608": "MCI", "I31102": "CN", "I66158": "AD", "I79792": "MCI"}  # real list names
# the collection CSV as IDA exports it: two flat images of one subject, the native one with it too
CSV = """Image Data ID,Subject,Group,Sex,Age,Visit,Modality,Description,Type,Acq Date,Format,Downloaded
I119322,002_S_0295,CN,M,85,m12,MRI,MPR; GradWarp; B1 Correction; N3; Scaled,Processed,10/03/2007,NiFTI,
I31102,002_S_0295,CN,M,84,sc,MRI,MPR; GradWarp; B1 Correction; N3; Scaled,Processed,4/18/2006,NiFTI,
I40966,002_S_0295,CN,M,84,m06,MRI,MPR; GradWarp; B1 Correction; N3; Scaled,Processed,11/02/2006,NiFTI,
I48608,011_S_0003,MCI,M,81,sc,MRI,MPR; GradWarp; B1 Correction; N3; Scaled,Processed,9/01/2005,NiFTI,
I66158,067_S_0056,AD,F,77,m12,MRI,MPR; GradWarp; B1 Correction; N3; Scaled,Processed,1/11/2007,NiFTI,
"""


def make_adni(root, with_csv=True):
    for n, (image, group) in enumerate(FLAT.items()):
        write_nifti(root / f"{image}_{group}.nii", random_volume(n, low=0, high=700))
    write_nifti(root / NATIVE, random_volume(9, low=0, high=700))
    if with_csv:
        (root / "ADNI1_Complete_1Yr_1.5T_10_13_2019.csv").write_text(CSV)


@pytest.mark.parametrize("source", ["adni_1_5t", "adni_3t"])
def test_adni_patients_labels_and_list(source, tmp_path, prepare_load):
    raw = tmp_path / "raw"
    make_adni(raw)
    ds, report = prepare_load(source, raw, tmp_path / "out", sample_fraction=1.0)
    assert report.records_found == 6 and len(ds) == 18 and set(ds["modality"]) == {"MRI"}
    names = ds.features["label"].names
    assert names == ["CN", "MCI", "AD"]
    got = {(v, p, names[lab]) for v, p, lab in zip(ds["volume_id"], ds["patient_id"], ds["label"])}
    assert got == {
        ("I119322", "002_S_0295", "CN"),
        ("I31102", "002_S_0295", "CN"),
        ("I40966", "002_S_0295", "CN"),
        ("I48608", "011_S_0003", "MCI"),
        ("I66158", "067_S_0056", "AD"),
        ("I79792", "I79792", "MCI"),
    }
    # the sample is by subject: 4 subjects -> round(0.5 * 4) = 2, each with all of its images
    ds, _ = prepare_load(source, raw, tmp_path / "out50", sample_fraction=0.5, seed=3)
    per_patient = {"002_S_0295": 3, "011_S_0003": 1, "067_S_0056": 1, "I79792": 1}
    kept = set(ds["patient_id"])
    assert len(kept) == 2 and len(set(ds["volume_id"])) == sum(per_patient[p] for p in kept)

    lst = tmp_path / "list.txt"
    lst.write_text("I119322_CN.nii\nI40966_CN.nii\nI99999_AD.nii")  # flat + native image, one absent
    ds, report = prepare_load(source, raw, tmp_path / "out_list", file_list=str(lst))
    assert sorted(set(ds["volume_id"])) == ["I119322", "I40966"] and report.list_entries_unmatched == 1


def test_adni_without_csv_and_missing(tmp_path, prepare_load):
    make_adni(tmp_path / "raw", with_csv=False)
    ds, _ = prepare_load("adni_1_5t", tmp_path / "raw", tmp_path / "out", sample_fraction=1.0)
    by_volume = dict(zip(ds["volume_id"], zip(ds["patient_id"], ds["label"])))
    assert by_volume["I119322"] == ("I119322", 0)  # flat name: own patient, group from the name
    assert by_volume["I40966"] == ("002_S_0295", None)  # native name: subject known, group unknown
    write_nifti(tmp_path / "other" / "brain.nii", random_volume(0))
    with pytest.raises(SourceDataMissingError, match="I<image>_<CN|MCI|AD>.nii"):
        prepare_load("adni_3t", tmp_path / "other", tmp_path / "o2")

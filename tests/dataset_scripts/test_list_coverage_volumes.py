"""LVM-Med's lists of the volume sources (NIfTI, Analyze, MetaImage, HDF5, slice stacks) and of
CBIS-DDSM: every entry selects its volume (or file), or is a named exclusion the builder documents.

Trees are generated from each list's names in the public layout of the dataset (see each builder's
docstring), with tiny valid files (2 x 2 x 2 volumes, 4 x 4 slices). Volumes are records of their
own: an entry selects one volume file, a BraTS entry (a case) its four MRI sequences, a LUNA16
``.raw`` / Hippseg ``.img`` entry the same volume as its header file. Masks named by the lists
(KiTS19 segmentations, MM-WHS labels) are the ``segmentation_mask`` / ``label_volume`` exclusions;
the MSD list's ``TaskXX_Name`` lines and the other tasks' blocks are ``msd_task_header`` /
``other_msd_task``.
"""

from __future__ import annotations

import gzip
import io
from collections import Counter

import nibabel as nib
import numpy as np
import pytest
from _coverage import (
    TreeWriter,
    assert_full_coverage,
    dicom_bytes,
    image_bytes,
    list_coverage,
    list_lines,
    reference_list,
)
from pydicom.uid import generate_uid

_VOL = np.arange(8, dtype=np.int16).reshape(2, 2, 2)


def nifti_bytes(gz: bool) -> bytes:
    data = nib.Nifti1Image(_VOL, np.eye(4)).to_bytes()
    return gzip.compress(data) if gz else data


def analyze_pair() -> tuple[bytes, bytes]:
    img = nib.AnalyzeImage(_VOL, np.eye(4))
    hdr, raw = io.BytesIO(), io.BytesIO()
    fm = img.make_file_map({"header": hdr, "image": raw})
    img.to_file_map(fm)
    return hdr.getvalue(), raw.getvalue()


def metaimage_pair(uid: str) -> tuple[bytes, bytes]:
    header = (
        "ObjectType = Image\nNDims = 3\nBinaryData = True\nBinaryDataByteOrderMSB = False\n"
        "ElementSpacing = 1 1 1\nDimSize = 2 2 2\nElementType = MET_SHORT\n"
        f"ElementDataFile = {uid}.raw\n"
    )
    return header.encode(), _VOL.tobytes()


def write_volume(w: TreeWriter, rel: str) -> None:
    w.write(rel, nifti_bytes(rel.endswith(".gz")))


def adni(w, lines):  # LVM-Med's renamed export: I<image>_<group>.nii in one folder
    for e in lines:
        write_volume(w, e)


def brats(w, lines):  # {HGG,LGG}/<case>/<case>_{t1,t1ce,t2,flair,seg}.nii.gz (grade not in the list)
    for case in lines:
        for seq in ("t1", "t1ce", "t2", "flair", "seg"):
            write_volume(w, f"HGG/{case}/{case}_{seq}.nii.gz")


def lits(w, lines):  # Training Batch 1/volume-<n>.nii + segmentation-<n>.nii
    for e in lines:
        write_volume(w, f"Training Batch 1/{e}.nii")
        write_volume(w, f"Training Batch 1/segmentation-{e.split('-')[1]}.nii")


def luna(w, lines):  # subset<k>/<seriesuid>.mhd + .raw
    for e in lines:
        uid, ext = e.rsplit(".", 1)
        hdr, raw = metaimage_pair(uid)
        w.write(f"subset0/{e}", hdr if ext == "mhd" else raw)


def kits(w, lines):  # [data/]case_<nnnnn>/{imaging,segmentation}.nii.gz
    for e in lines:
        write_volume(w, f"data/{e}")


def mmwhs(prefix):
    def make(w, lines):  # <prefix>_train/<prefix>_train_<id>_{image,label}.nii
        for e in lines:
            write_volume(w, f"{prefix}_train/{e}")

    return make


def hippseg(w, lines):  # HFH_<nnn>.hdr + .img
    hdr, raw = analyze_pair()
    for e in lines:
        w.write(e, hdr if e.endswith(".hdr") else raw)


def mitoem(w, lines):  # <stack>/im/im<zzzz>.png
    for e in lines:
        w.write(f"MitoEM-H/im/{e}.png", image_bytes(".png"))


def msd(w, lines):  # TaskXX_Name/imagesTr/<case>.nii.gz (+ labelsTr/)
    for e in lines:
        if "/" in e:
            write_volume(w, e)
            write_volume(w, e.replace("/imagesTr/", "/labelsTr/"))


def patchcamelyon(w, lines):  # camelyonpatch_level_2_split_train_x.h5 (key "x", N x 96 x 96 x 3)
    import h5py

    for e in lines:
        path = w.write(e, b"")
        with h5py.File(path, "w") as f:
            f.create_dataset("x", data=np.zeros((3, 4, 4, 3), np.uint8))


def cbis(w, lines):
    """CBIS-DDSM lists SeriesInstanceUIDs: each goes into a case folder of the NBIA descriptive
    layout (case names are not in the list: numbered here) with one file whose header names it."""
    for i, uid in enumerate(dict.fromkeys(lines)):  # the list repeats some UIDs
        case = f"Mass-Training_P_{i:05d}_LEFT_CC"
        rel = f"CBIS-DDSM/{case}/07-20-2016-DDSM-74994/1-full mammogram images-24515/1-1.dcm"
        w.write(rel, dicom_bytes("MG", case, generate_uid(), uid))


# source -> (list, tree writer, paths per entry, expected exclusions)
MSD_TASKS = {
    "msd_task02_heart": "Task02_Heart",
    "msd_task03_liver": "Task03_Liver",
    "msd_task06_lung": "Task06_Lung",
    "msd_task07_pancreas": "Task07_Pancreas",
    "msd_task08_hepaticvessel": "Task08_HepaticVessel",
    "msd_task09_spleen": "Task09_Spleen",
    "msd_task10_colon": "Task10_Colon",
}
SOURCES = {
    "adni_1_5t": ("ADNI1_MRI_Brain_1.5T", adni, 1),
    "adni_3t": ("ADNI1_MRI_Brain_3T", adni, 1),
    "brats2018": ("0_SSL_BraTS2018_Brain", brats, 4),
    "lits2017": ("0_SSL_LiTS2017_Liver", lits, 1),
    "luna16": ("0_SSL_LUNA2016_Lung", luna, 1),
    "kits19": ("KiTS19_CT_Kidney", kits, 1),
    "mmwhs_ct": ("MMWHS_CT_Heart", mmwhs("ct"), 1),
    "mmwhs_mri": ("MMWHS_MR_Heart", mmwhs("mr"), 1),
    "hippseg2011": ("Hippseg2011_MRI_Brain", hippseg, 1),
    "mitoem": ("MitoEM_SEM_Cells", mitoem, 1),
    "patchcamelyon": ("0_SSL_PatchCamelyon_Color_Cells", patchcamelyon, 1),
    "cbis_ddsm": ("CBIS-DDSM_Mammography_Breast", cbis, 1),
    **{s: ("MSD", msd, 1) for s in MSD_TASKS},
}


def expected_exclusions(source: str, lines: list[str]) -> dict[str, int]:
    """Computed from the list's lines alone (what each named exclusion covers)."""
    if source == "kits19":
        return {"segmentation_mask": sum(e.endswith("/segmentation.nii.gz") for e in lines)}
    if source.startswith("mmwhs"):
        return {"label_volume": sum("_label.nii" in e for e in lines)}
    if source in MSD_TASKS:
        task = MSD_TASKS[source]
        headers = sum("/" not in e for e in lines)
        return {
            "msd_task_header": headers,
            "other_msd_task": sum(
                e.startswith("Task") and "/" in e and not e.startswith(task + "/") for e in lines
            ),
        }
    return {}


@pytest.mark.parametrize("source", sorted(SOURCES))
def test_every_list_entry_maps_to_its_volume_or_a_named_exclusion(list_tmp, source):
    list_name, make, per_entry = SOURCES[source]
    lines = list_lines(list_name)
    raw = list_tmp / "raw"
    make(TreeWriter(raw), lines)
    cov = list_coverage(source, raw, reference_list(list_name), list_tmp / "cache", per_entry=per_entry)
    assert_full_coverage(cov)
    excluded = {k: v for k, v in expected_exclusions(source, lines).items() if v}
    assert dict(cov.excluded) == excluded
    assert cov.mapped == len(lines) - sum(excluded.values())
    assert Counter(type(r.paths[0]).__name__ for r in cov.records)  # records were planned

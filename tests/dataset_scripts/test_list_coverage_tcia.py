"""LVM-Med's TCIA lists against the TCIA builders: patient ids, unmatched folders, full coverage.

The lists name ``<PatientID>/<study folder>/<series folder>/<file>.dcm`` in the NBIA Data
Retriever's descriptive layout (TCIA's download tool; the layout is described in
``lvmmed_hf.data.layouts.tcia``). Each fixture tree is generated from a list's own lines under
``<Collection>/``: every listed file is a small valid DICOM file whose header names one series per
series folder (the bytes of one encoded file per series are reused for its files, which keeps
34,158 files of TCGA-KIRC to a few seconds). The mapping is checked at the record level (one path
per entry); one end-to-end prepare per layout family is done in the per-collection tests.
"""

from __future__ import annotations

import re

import pytest
from _coverage import (
    TreeWriter,
    assert_full_coverage,
    dicom_bytes,
    list_coverage,
    list_lines,
    make_builder,
    reference_list,
)
from pydicom.uid import generate_uid

from lvmmed_hf.data.builder import SourceReport
from lvmmed_hf.data.layouts.tcia import UNMATCHED_FOLDER
from lvmmed_hf.data.registry import get_source

# source -> (LVM-Med's list, the collection folder the retriever writes)
TCIA_LISTS = {
    "pancreas_ct": ("0_SSL_Pancreas-CT_CT_Pancreas", "Pancreas-CT"),
    "pelvic_reference_data": ("0_SSL_Pelvic-Reference-Data_CT_Pelvic", "Pelvic-Reference-Data"),
    "prostatex": ("0_SSL_PROSTATEx_MRI_Prostate", "PROSTATEx"),
    "opc_radiomics": ("0_SSL_OPC-Radiomics_CT_Oropharynx", "OPC-Radiomics"),
    "tcga_cesc": ("0_SSL_TCGA-CESC_MRI_Cervix", "TCGA-CESC"),
    "tcga_coad": ("0_SSL_TCGA-COAD_CT_Colon", "TCGA-COAD"),
    "tcga_esca": ("0_SSL_TCGA-ESCA_CT_Esophagus", "TCGA-ESCA"),
    "tcga_kich": ("0_SSL_TCGA-KICH_Mixed_Kidney", "TCGA-KICH"),
    "tcga_kirc": ("0_SSL_TCGA-KIRC_Mixed_Multi", "TCGA-KIRC"),
    "tcga_read": ("0_SSL_TCGA-READ_Mixed_Rectum", "TCGA-READ"),
    "tcga_sarc": ("0_SSL_TCGA-SARC_Mixed_Multi", "TCGA-SARC"),
    "tcga_thca": ("0_SSL_TCGA-THCA_CT_Thyroid", "TCGA-THCA"),
}


def write_tree_from_list(root, collection: str, lines: list[str], modality: str) -> int:
    """``<root>/<collection>/<entry>`` for every entry; one series (UIDs) per series folder."""
    w = TreeWriter(root / collection)
    per_series: dict[str, bytes] = {}
    studies: dict[str, str] = {}
    for e in lines:
        patient, study, series, _name = e.split("/")
        key = f"{patient}/{study}/{series}"
        if key not in per_series:
            study_uid = studies.setdefault(f"{patient}/{study}", generate_uid())
            per_series[key] = dicom_bytes(modality, patient, study_uid, generate_uid())
        w.write(e, per_series[key])
    return w.n


@pytest.mark.parametrize("source", sorted(TCIA_LISTS))
def test_patient_pattern_covers_every_patient_of_the_list(source):
    """The patient-folder pattern is taken from the published lists: every listed patient matches."""
    cls = get_source(source)
    rx = re.compile(cls.patient_pattern)
    patients = {e.split("/", 1)[0] for e in list_lines(TCIA_LISTS[source][0])}
    assert patients and not [p for p in sorted(patients) if not rx.fullmatch(p)]


def test_tcga_coad_suffixed_patients_and_unmatched_folders_reported(tmp_path):
    """TCGA-AY-6197A-like patients (834 of 1,647 COAD entries) are prepared; a folder that is no
    patient id sits beside them and is reported with its path, not dropped silently."""
    lines = [e for e in list_lines("0_SSL_TCGA-COAD_CT_Colon") if re.match(r"TCGA-AY-\d{4}A/", e)]
    assert len(lines) == 834
    raw = tmp_path / "raw"
    write_tree_from_list(raw / "manifest-1", "TCGA-COAD", lines, "CT")
    odd = raw / "manifest-1" / "TCGA-COAD" / "TCGA-AY-6197 (copy)" / "s" / "x"
    odd.mkdir(parents=True)
    (odd / "1-1.dcm").write_bytes(dicom_bytes("CT", "x", generate_uid(), generate_uid()))
    (raw / "manifest-1" / "TCGA-COAD" / ".hidden").mkdir()
    list_path = reference_list("0_SSL_TCGA-COAD_CT_Colon")
    b = make_builder("tcga_coad", raw, tmp_path / "cache", file_list=str(list_path))
    report = SourceReport("tcga_coad")
    records = b.plan_records(report)
    assert sum(len(r.paths) for r in records) == 834
    assert {r.patient_id for r in records} == {
        "TCGA-AY-4070A",
        "TCGA-AY-5543A",
        "TCGA-AY-6197A",
        "TCGA-AY-6386A",
    }
    assert report.skipped[UNMATCHED_FOLDER] == 1
    [detail] = [d for d in report.details if d["reason"] == UNMATCHED_FOLDER]
    assert detail["path"] == "manifest-1/TCGA-COAD/TCGA-AY-6197 (copy)"
    assert "TCGA-AY-6197 (copy)" in detail["message"]


@pytest.mark.parametrize("source", sorted(TCIA_LISTS))
def test_every_list_entry_maps_to_one_slice_file(list_tmp, source):
    """Every entry of LVM-Med's list selects exactly one DICOM file of one planned series record."""
    list_name, collection = TCIA_LISTS[source]
    lines = list_lines(list_name)
    cls = get_source(source)
    raw = list_tmp / "raw"
    write_tree_from_list(raw, collection, lines, cls.accepted_modalities[0])
    cov = list_coverage(source, raw, reference_list(list_name), list_tmp / "cache")
    assert_full_coverage(cov)
    assert cov.mapped == len(lines) and not cov.excluded
    assert not cov.report.skipped.get(UNMATCHED_FOLDER)
    # one record per series folder, and each listed file in exactly one record
    folders = {e.rsplit("/", 1)[0] for e in lines}
    assert len(cov.records) == len(folders)
    assert sum(len(r.paths) for r in cov.records) == len(lines)

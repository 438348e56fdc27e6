"""Writers for the data-layer tests: real files in the real formats, written by the tests."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np


def write_dicom_slice(
    path: Path,
    stored: np.ndarray,
    *,
    modality: str = "CT",
    iop=(1.0, 0.0, 0.0, 0.0, 1.0, 0.0),
    ipp=(0.0, 0.0, 0.0),
    spacing=(0.7, 0.8),
    slope: float | None = 1.0,
    intercept: float | None = -1024.0,
    instance: int = 1,
    series_uid: str = "1.2.826.0.1.3680043.8.498.1",
    photometric: str = "MONOCHROME2",
    bits_stored: int = 16,
    signed: bool = False,
    compress: str | None = None,
) -> Path:
    """A single-frame grayscale DICOM Part 10 file written with pydicom.

    ``compress``: a transfer syntax UID."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    path.parent.mkdir(parents=True, exist_ok=True)
    meta = FileMetaDataset()
    sop_class = {
        "CT": "1.2.840.10008.5.1.4.1.1.2",
        "MR": "1.2.840.10008.5.1.4.1.1.4",
        "CR": "1.2.840.10008.5.1.4.1.1.1",
    }[modality]
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = modality
    ds.PatientID = "P1"
    ds.StudyInstanceUID = "1.2.826.0.1.3680043.8.498.2"
    ds.SeriesInstanceUID = series_uid
    ds.InstanceNumber = instance
    if iop is not None:
        ds.ImageOrientationPatient = [float(v) for v in iop]
        ds.ImagePositionPatient = [float(v) for v in ipp]
    ds.PixelSpacing = [float(spacing[0]), float(spacing[1])]
    ds.SliceThickness = 1.0
    if slope is not None:
        ds.RescaleSlope = slope
        ds.RescaleIntercept = intercept
    ds.Rows, ds.Columns = stored.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated = 16
    ds.BitsStored = bits_stored
    ds.HighBit = bits_stored - 1
    ds.PixelRepresentation = 1 if signed else 0
    ds.PixelData = np.ascontiguousarray(stored.astype(np.int16 if signed else np.uint16)).tobytes()
    if compress is not None:
        ds.compress(compress)
    ds.save_as(path, enforce_file_format=True)
    return path


def write_ct_series(
    folder: Path,
    stored: np.ndarray,
    *,
    z0: float = -50.0,
    dz: float = 2.5,
    slope: float = 1.0,
    intercept: float = -1024.0,
    compress: str | None = None,
    reverse_names: bool = True,
    series_uid: str = "1.2.826.0.1.3680043.8.498.1",
) -> list[Path]:
    """An axial CT series: slice k of ``stored`` (S, H, W) at z = z0 + k*dz.

    File names and instance numbers run opposite to z when ``reverse_names`` so a reader that
    sorts by name or InstanceNumber gets the order wrong.
    """
    n = stored.shape[0]
    paths = []
    for k in range(n):
        pos = n - 1 - k if reverse_names else k
        paths.append(
            write_dicom_slice(
                folder / f"1-{pos + 1:03d}.dcm",
                stored[k],
                ipp=(-20.0, -30.0, z0 + k * dz),
                slope=slope,
                intercept=intercept,
                instance=pos + 1,
                compress=compress,
                series_uid=series_uid,
            )
        )
    return paths


def gradient_volume(shape=(6, 12, 10), seed: int = 0) -> np.ndarray:
    """Distinct, non-constant uint16 values (no slice is near-constant)."""
    rng = np.random.default_rng(seed)
    return rng.integers(900, 1300, size=shape).astype(np.uint16)


BUILDER_SCRIPT = textwrap.dedent(
    '''
    """Test source with a real-looking mixed layout (series folders, NIfTI, PNG)."""
    from lvmmed_hf.data.builder import LvmMedSourceBuilder, Record
    from lvmmed_hf.data.readers import list_dicom_files


    class ToyCt(LvmMedSourceBuilder):
        source_name = "toy_ct"
        description = "Toy CT series"
        homepage = "https://example.org/toy-ct"
        license = "CC BY 4.0"
        access = "register at example.org and accept the DUA"
        modality = "CT"
        organ = "abdomen"
        dimensionality = "3d"
        split_rule = "random_20pct_by_volume"
        layout = "PATIENT_<nnnn>/<series>/1-<nnn>.dcm"

        def iter_records(self, data_dir):
            for patient in sorted(data_dir.glob("PATIENT_*")):
                for series in sorted(p for p in patient.iterdir() if p.is_dir()):
                    yield Record(paths=list_dicom_files(series), patient_id=patient.name,
                                 volume_id=f"{patient.name}/{series.name}", reader="dicom_series")


    class ToyXray(LvmMedSourceBuilder):
        source_name = "toy_xray"
        description = "Toy 16-bit X-rays"
        homepage = "https://example.org/toy-xray"
        license = "CC0"
        access = "direct download"
        modality = "X-ray"
        organ = "chest"
        dimensionality = "2d"
        split_rule = "official_train"
        layout = "train/{normal,abnormal}/<id>.png"
        label_names = ["normal", "abnormal"]

        def iter_records(self, data_dir):
            for cls in self.label_names:
                for p in sorted((data_dir / "train" / cls).glob("*.png")):
                    yield Record(paths=p, patient_id=p.stem.split("_")[0], label=cls, reader="image")


    class ToyMri(LvmMedSourceBuilder):
        source_name = "toy_mri"
        description = "Toy MRI volumes"
        homepage = "https://example.org/toy-mri"
        license = "CC BY-NC 4.0"
        access = "direct download"
        modality = "MRI"
        organ = "brain"
        dimensionality = "3d"
        split_rule = "official_train"
        layout = "imagesTr/<case>.nii.gz"
        file_list_match = "stem"

        def iter_records(self, data_dir):
            for p in sorted((data_dir / "imagesTr").glob("*.nii.gz")):
                yield Record(paths=p, reader="nifti")
    '''
)


MIX_SCRIPT = textwrap.dedent(
    '''
    """Three flat 2D sources of different modalities and sizes, for mixture tests."""
    from lvmmed_hf.data.builder import LvmMedSourceBuilder, Record


    class _Flat(LvmMedSourceBuilder):
        description = "flat folder of PNGs"
        homepage = "https://example.org"
        license = "CC0"
        access = "direct download"
        organ = "various"
        dimensionality = "2d"
        split_rule = "official_train"
        layout = "*.png"

        def iter_records(self, data_dir):
            for p in sorted(data_dir.glob("*.png")):
                yield Record(paths=p, reader="image")


    class MixA(_Flat):
        source_name = "mix_a"
        modality = "X-ray"


    class MixB(_Flat):
        source_name = "mix_b"
        modality = "fundus"


    class MixC(_Flat):
        source_name = "mix_c"
        modality = "X-ray"
    '''
)
MIX_SIZES = {"mix_a": 40, "mix_b": 80, "mix_c": 120}

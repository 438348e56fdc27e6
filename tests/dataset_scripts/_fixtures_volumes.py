"""Fixture writers for the 3D volume sources (NIfTI, Analyze, MetaImage) and their checks.

Volumes are tiny (16 x 16 x 3 voxels by default) with random, non-constant slices so that no
slice is dropped as empty. ``expected_axial_slice`` states, in closed form, which voxels of a
volume written with :func:`write_nifti`'s default affine end up in stored slice k.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

SHAPE = (16, 16, 3)


def random_volume(seed: int, shape=SHAPE, low: int = -150, high: int = 230, dtype=np.int16) -> np.ndarray:
    """Random integers in [low, high] (inside the default CT window, so no slice saturates)."""
    rng = np.random.default_rng(seed)
    return rng.integers(low, high, size=shape, endpoint=True).astype(dtype)


def label_volume(shape=SHAPE, n_classes: int = 3) -> np.ndarray:
    """A label volume whose value depends on all three voxel indices: (i + 2j + k) % n_classes."""
    i, j, k = np.indices(shape)
    return ((i + 2 * j + k) % n_classes).astype(np.uint8)


def write_nifti(path: Path, array: np.ndarray, affine: np.ndarray | None = None) -> Path:
    """NIfTI-1 (``.nii`` or ``.nii.gz``) with an RAS diagonal affine (1 mm voxels) by default."""
    import nibabel as nib

    path.parent.mkdir(parents=True, exist_ok=True)
    img = nib.Nifti1Image(np.asarray(array), np.eye(4) if affine is None else affine)
    img.set_qform(img.affine, code=1)
    img.set_sform(img.affine, code=1)
    nib.save(img, str(path))
    return path


def write_analyze(path_hdr: Path, array: np.ndarray) -> Path:
    """Analyze 7.5 ``.hdr`` + ``.img`` pair (no orientation field)."""
    import nibabel as nib

    path_hdr.parent.mkdir(parents=True, exist_ok=True)
    img = nib.AnalyzeImage(np.asarray(array), np.eye(4))
    nib.save(img, str(path_hdr))
    return path_hdr


def write_metaimage(path_mhd: Path, array_zyx: np.ndarray) -> Path:
    """MetaImage ``.mhd`` header + ``.raw`` data (as LUNA16 ships them); array indexed (z, y, x)."""
    import SimpleITK as sitk

    path_mhd.parent.mkdir(parents=True, exist_ok=True)
    img = sitk.GetImageFromArray(np.asarray(array_zyx))
    img.SetSpacing((0.7, 0.7, 2.5))
    img.SetOrigin((-100.0, -100.0, -300.0))
    sitk.WriteImage(img, str(path_mhd), useCompression=False)
    return path_mhd


def expected_axial_slice(volume: np.ndarray, k: int) -> np.ndarray:
    """Stored slice k of a volume written with the default RAS identity affine.

    RAS +x (voxel axis i) points to the patient's right, i.e. -x in LPS, so the stored columns
    (which run towards patient left, +x) walk i backwards; RAS +y (axis j) points anterior (-y in
    LPS), so the rows (running posterior) walk j backwards; axis k already runs inferior to superior.
    Result[r, c] = volume[n_i - 1 - c, n_j - 1 - r, k].
    """
    return volume[::-1, ::-1, k].T


def decode(png: dict | Image.Image) -> np.ndarray:
    """A loaded ``datasets.Image`` value (PIL image) as an array."""
    if isinstance(png, dict):
        png = Image.open(io.BytesIO(png["bytes"]))
    return np.asarray(png)


def random_slice(seed: int, shape=(24, 24)) -> np.ndarray:
    """A random 8-bit grayscale section (EM slices are 8-bit PNG)."""
    return np.random.default_rng(seed).integers(0, 255, size=shape, endpoint=True).astype(np.uint8)


def write_png(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path

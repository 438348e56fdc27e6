"""LUNA16 (LUng Nodule Analysis 2016): 888 chest CT scans from LIDC-IDRI as MetaImage.

Accepted layout (the challenge's ``subset0.zip`` .. ``subset9.zip`` unpacked side by side;
``data_dir`` may hold them directly or one folder deeper)::

    <data_dir>/subset<k>/<seriesuid>.mhd + <seriesuid>.raw       (k = 0..9, CT in HU)
    <data_dir>/seg-lungs-LUNA16/[seg-lungs-LUNA16/]<seriesuid>.mhd   (optional lung masks
        from ``seg-lungs-LUNA16.zip`` -> ``mask``: 0, 3 left lung, 4 right lung, 5 trachea)
    <data_dir>/annotations.csv, candidates*.csv                   (ignored)

One record per scan, identified by its SeriesInstanceUID. The file names carry no patient ID
(a few LIDC-IDRI patients have more than one scan; the mapping needs LIDC's DICOM metadata), so
the sampling unit is the scan. Verified: LVM-Med's list ``0_SSL_LUNA2016_Lung`` names
``<seriesuid>.mhd`` / ``.raw`` pairs (178 scans = its 20% sample; both entries match the scan
by stem); ``subset<k>/`` and ``seg-lungs-LUNA16/`` against public loaders of the challenge data.
Public sources: https://luna16.grand-challenge.org/Data/ and the Zenodo records of the download
(``subset0.zip``..``subset9.zip`` holding ``<seriesuid>.mhd`` + ``.raw``; ``seg-lungs-LUNA16``;
``CSVFILES/annotations.csv``), as public LUNA16 loaders lay the folders out.
"""

from pathlib import Path

from lvmmed_hf.data.builder import Record
from lvmmed_hf.data.layouts.volumes_sources import MASK_PATH, MaskedSourceBuilder


class Luna16(MaskedSourceBuilder):
    source_name = "luna16"
    pretty_name = "LUNA16"
    description = (
        "888 thoracic CT scans (slice thickness <= 2.5 mm) selected from LIDC-IDRI for the LUNA16 nodule "
        "detection challenge, in MetaImage format, with optional automatic lung segmentations."
    )
    homepage = "https://luna16.grand-challenge.org/"
    license = "CC BY 4.0 (LIDC-IDRI via TCIA)"
    access = "register on grand-challenge, download subset0-9 from the LUNA16 page (Zenodo mirror)"
    citation = """@article{setio2017validation,
  title={Validation, comparison, and combination of algorithms for automatic detection of pulmonary nodules in
      computed tomography images: The LUNA16 challenge},
  author={Setio, Arnaud Arindra Adiyoso and Traverso, Alberto and De Bel, Thomas and others},
  journal={Medical Image Analysis}, volume={42}, pages={1--13}, year={2017}
}
@article{armato2011lung,
  title={The Lung Image Database Consortium (LIDC) and Image Database Resource Initiative (IDRI): a completed
      reference database of lung nodules on CT scans},
  author={Armato III, Samuel G and McLennan, Geoffrey and Bidaut, Luc and others},
  journal={Medical Physics}, volume={38}, number={2}, pages={915--931}, year={2011}
}"""
    modality = "CT"
    organ = "lung"
    dimensionality = "3d"
    split_rule = "random_20pct_by_volume"
    layout = "subset<0-9>/<seriesuid>.mhd + .raw (+ seg-lungs-LUNA16/<seriesuid>.mhd)"
    lvmmed_file_list = "0_SSL_LUNA2016_Lung"
    file_list_match = "stem"

    def iter_records(self, data_dir: Path):
        masks = {}
        seg_dirs = set(data_dir.glob("seg-lungs-LUNA16")) | set(data_dir.glob("*/seg-lungs-LUNA16"))
        for seg_dir in sorted(seg_dirs):
            for m in seg_dir.glob("*.mhd"):
                masks[m.stem] = m
        scans = sorted(set(data_dir.glob("subset[0-9]/*.mhd")) | set(data_dir.glob("*/subset[0-9]/*.mhd")))
        for mhd in scans:
            if mhd.name.startswith("."):
                continue
            uid = mhd.stem
            mask = masks.get(uid)
            extras = {MASK_PATH: mask} if mask else {}
            yield Record(paths=mhd, patient_id=uid, volume_id=uid, reader="metaimage", extras=extras)

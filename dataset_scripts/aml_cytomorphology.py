"""AML-Cytomorphology_LMU (TCIA): 18,365 single-cell images of peripheral blood smears in 15 classes (TIFF).

Accepted layout (the TCIA download; ``<data_dir>`` may hold the class folders directly or the
``AML-Cytomorphology`` folder of the archive)::

    <data_dir>/["PKG - AML-Cytomorphology_LMU"/][AML-Cytomorphology/]<CLASS>/<CLASS>_<nnnn>.tiff
    e.g. BAS/BAS_0002.tiff  (class folders are looked for up to two levels down)
    (annotations.dat and other files are ignored)

Classes (morphological cell types, the folder names): BAS, EBO, EOS, KSC, LYA, LYT, MMZ, MOB, MON,
MYB, MYO, NGB, NGS, PMB, PMO. The release has no patient ids; each image is its own group for the
20% sample. RGBA TIFFs are stored as RGB.
Verified: class codes and file names from the LVM-Med list (``BAS_0002.tiff`` ... ``PMO_0063.tiff``,
the same 15 codes); the folder-per-class layout from the TCIA collection page.
"""

from pathlib import Path

from lvmmed_hf.data.builder import LvmMedSourceBuilder, Record
from lvmmed_hf.data.layouts.images import iter_class_folders

CLASSES = [
    "BAS",
    "EBO",
    "EOS",
    "KSC",
    "LYA",
    "LYT",
    "MMZ",
    "MOB",
    "MON",
    "MYB",
    "MYO",
    "NGB",
    "NGS",
    "PMB",
    "PMO",
]


def class_root(data_dir: Path, classes: list[str]) -> Path | None:
    """``data_dir`` or its first sub-folder (two levels) that holds at least one class folder."""
    cands = [data_dir] + sorted(d for d in data_dir.iterdir() if d.is_dir())
    cands += [dd for d in cands[1:] for dd in sorted(x for x in d.iterdir() if x.is_dir())]
    return next((c for c in cands if any((c / k).is_dir() for k in classes)), None)


class AmlCytomorphology(LvmMedSourceBuilder):
    source_name = "aml_cytomorphology"
    pretty_name = "AML-Cytomorphology_LMU"
    description = (
        "Single white blood cells from peripheral blood smears of AML patients and controls (LMU Munich), 15 "
        "morphological classes."
    )
    homepage = "https://www.cancerimagingarchive.net/collection/aml-cytomorphology_lmu/"
    license = "CC BY 3.0 (TCIA)"
    access = "TCIA download (IBM Aspera / NBIA), no registration"
    citation = """@article{matek2019human,
  title={Human-level recognition of blast cells in acute myeloid leukaemia with convolutional neural
    networks},
  author={Matek, Christian and Schwarz, Simone and Spiekermann, Karsten and Marr, Carsten},
  journal={Nature Machine Intelligence}, volume={1}, number={11}, pages={538--544}, year={2019},
  note={Data: doi:10.7937/tcia.2019.36f5o9ld}
}"""
    modality = "microscopy"
    organ = "blood cells"
    dimensionality = "2d"
    split_rule = "random_20pct_by_volume"
    layout = "[AML-Cytomorphology/]<CLASS>/<CLASS>_<nnnn>.tiff (15 class folders: BAS, EBO, ..., PMO)"
    label_names = CLASSES
    lvmmed_file_list = "AML-Cytomorphology_Color_Cells"
    file_list_match = "path"

    def iter_records(self, data_dir: Path):
        root = class_root(data_dir, CLASSES)
        if root is None:
            return
        for p, cls in iter_class_folders(root, CLASSES, (".tiff", ".tif")):
            yield Record(paths=p, patient_id=p.stem, label=cls, reader="image")

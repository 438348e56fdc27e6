"""NIH / LHNCBC malaria cell images: 27,558 red blood cell crops from thin smears, parasitized or uninfected.

Accepted layout (cell_images.zip from NLM, or the Kaggle mirror with its duplicated inner folder)::

    <data_dir>/[cell_images/][cell_images/]{Parasitized,Uninfected}/<slide>_IMG_<date>_<time>_cell_<n>.png
    e.g. Parasitized/C100P61ThinF_IMG_20150918_144104_cell_162.png   (Thumbs.db files are ignored)

Patient/slide group = the name before ``_IMG_`` (``C100P61ThinF``), so the 20% sample keeps all
cells of a smear together. LVM-Med's own list (6,120 cells) has cells of nearly every smear, i.e.
it sampled cells; pass the list to reproduce it exactly (the default stays leakage-safe).
Verified: file naming from the LVM-Med list; folders from the NLM data page and Rajaraman et al. 2018.
Public sources: TFDS' ``malaria`` builder (``tensorflow_datasets/image/malaria.py``, archive
``cell_images.zip`` from the NLM, class names parasitized / uninfected, 27,558 PNG cells) and the
Kaggle mirror ``iarunava/cell-images-for-detecting-malaria`` (``cell_images/{Parasitized,
Uninfected}/<slide>_IMG_<date>_<time>_cell_<n>.png``).
"""

from pathlib import Path

from lvmmed_hf.data.builder import LvmMedSourceBuilder, Record
from lvmmed_hf.data.layouts.images import iter_class_folders

CLASSES = ["Parasitized", "Uninfected"]


class NihMalaria(LvmMedSourceBuilder):
    source_name = "nih_malaria"
    pretty_name = "NIH Malaria cell images"
    description = (
        "Giemsa-stained thin blood smear cell crops (Chittagong Medical College Hospital), parasitized or "
        "uninfected."
    )
    homepage = "https://lhncbc.nlm.nih.gov/LHC-research/LHC-projects/image-processing/malaria-datasheet.html"
    license = "public domain (NLM), cite the data paper"
    access = "direct download (cell_images.zip), no registration"
    citation = """@article{rajaraman2018pre,
  title={Pre-trained convolutional neural networks as feature extractors toward improved malaria parasite
    detection in thin blood smear images},
  author={Rajaraman, Sivaramakrishnan and Antani, Sameer K and Poostchi, Mahdieh and others},
  journal={PeerJ}, volume={6}, pages={e4568}, year={2018}
}"""
    modality = "microscopy"
    organ = "blood smear"
    dimensionality = "2d"
    split_rule = "random_20pct_by_volume"
    layout = "[cell_images/]{Parasitized,Uninfected}/<slide>_IMG_<date>_<time>_cell_<n>.png"
    label_names = CLASSES
    lvmmed_file_list = "LHNCBC-Malaria_Color_Blood-Smear"
    file_list_match = "path"

    def iter_records(self, data_dir: Path):
        cands = [data_dir, data_dir / "cell_images", data_dir / "cell_images" / "cell_images"]
        root = next((c for c in cands if (c / "Parasitized").is_dir() or (c / "Uninfected").is_dir()), None)
        if root is None:
            return
        for p, cls in iter_class_folders(root, CLASSES, (".png",)):
            slide = p.name.split("_IMG_")[0] if "_IMG_" in p.name else p.stem
            yield Record(paths=p, patient_id=slide, label=cls, reader="image")

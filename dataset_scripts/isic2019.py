"""ISIC 2019 training set: 25,331 dermoscopic images in 8 diagnostic classes (HAM10000, BCN20000, MSK).

Accepted layout (the ISIC challenge downloads, unzipped)::

    <data_dir>/ISIC_2019_Training_Input/ISIC_<nnnnnnn>[_downsampled].jpg
    <data_dir>/ISIC_2019_Training_GroundTruth.csv
        image, MEL, NV, BCC, AK, BKL, DF, VASC, SCC, UNK (one-hot, values 0.0 / 1.0)
    <data_dir>/ISIC_2019_Training_Metadata.csv      optional
        image, age_approx, anatom_site_general, lesion_id, sex (lesion_id groups the 20% sample)

The ``image`` column of both CSVs is the file name without ``.jpg``, *including* the
``_downsampled`` suffix of the MSK images (``ISIC_0012669_downsampled``): the label is looked up
under the full file stem. Group for the sample = ``lesion_id`` when the metadata gives one
(several images of one lesion stay together; it is empty for some images), else the image id.
LVM-Med's list prefixes the class (``AK_ISIC_0024763.jpg``, with ``MV`` for NV, and
``BKL_ISIC_0012103_downsampled.jpg``); :meth:`list_entry_key` keeps the part from ``ISIC_``.

Public sources of these facts:

- download names and the folder ``ISIC_2019_Training_Input/``: the challenge data page
  (https://challenge.isic-archive.com/data/#2019) and FLamby's download script
  (``flamby/datasets/fed_isic2019/dataset_creation_scripts/download_isic.py``: the three files
  ``ISIC_2019_Training_Input.zip``, ``ISIC_2019_Training_Metadata.csv``,
  ``ISIC_2019_Training_GroundTruth.csv``; images opened as ``<image>.jpg`` in that folder; rows
  with an empty ``lesion_id`` exist);
- the CSV columns and the ``_downsampled`` ids: FLamby's split file
  (``fed_isic2019/dataset_creation_scripts/train_test_split``, header
  ``image,MEL,NV,BCC,AK,BKL,DF,VASC,SCC,UNK,...``, rows such as ``ISIC_0012669_downsampled``);
- list naming: LVM-Med's ``ISIC2019_Color_Skin`` list.
"""

from pathlib import Path

from lvmmed_hf.data.builder import LvmMedSourceBuilder, Record
from lvmmed_hf.data.layouts.images import (
    LayoutError,
    find_dir,
    find_file,
    list_images,
    one_hot_class,
    read_csv_rows,
    table_by,
)

CLASSES = ["MEL", "NV", "BCC", "AK", "BKL", "DF", "VASC", "SCC", "UNK"]


class Isic2019(LvmMedSourceBuilder):
    source_name = "isic2019"
    pretty_name = "ISIC 2019"
    description = (
        "Dermoscopic images of skin lesions: melanoma, nevus, basal/squamous cell carcinoma, actinic "
        "keratosis, benign keratosis, dermatofibroma, vascular."
    )
    homepage = "https://challenge.isic-archive.com/data/#2019"
    license = "CC BY-NC 4.0"
    access = "direct download from the ISIC challenge site, no registration"
    citation = """@article{tschandl2018ham10000,
  title={The {HAM10000} dataset, a large collection of multi-source dermatoscopic images of common
    pigmented skin lesions},
  author={Tschandl, Philipp and Rosendahl, Cliff and Kittler, Harald},
  journal={Scientific Data}, volume={5}, pages={180161}, year={2018}
}
@article{combalia2019bcn20000,
  title={{BCN20000}: Dermoscopic Lesions in the Wild},
  author={Combalia, Marc and Codella, Noel C F and Rotemberg, Veronica and others},
  journal={arXiv preprint arXiv:1908.02288}, year={2019}
}"""
    modality = "dermoscopy"
    organ = "skin"
    dimensionality = "2d"
    split_rule = "random_20pct_by_volume"
    layout = (
        "ISIC_2019_Training_Input/ISIC_<id>.jpg + ISIC_2019_Training_GroundTruth.csv [+ "
        "ISIC_2019_Training_Metadata.csv]"
    )
    label_names = CLASSES
    lvmmed_file_list = "ISIC2019_Color_Skin"
    file_list_match = "path"

    def iter_records(self, data_dir: Path):
        images = find_dir(
            data_dir,
            [
                "ISIC_2019_Training_Input",
                "ISIC_2019_Training_Input/ISIC_2019_Training_Input",
                "*/ISIC_2019_Training_Input",
            ],
        )
        if images is None:
            return
        gt = find_file(
            data_dir, ["ISIC_2019_Training_GroundTruth.csv", "*/ISIC_2019_Training_GroundTruth.csv"]
        )
        if gt is None:
            raise self.missing_data_error(f"ISIC_2019_Training_GroundTruth.csv is missing in '{data_dir}'")
        try:
            truth = table_by(read_csv_rows(gt, ("image", *CLASSES[:-1])), "image")
            meta_path = find_file(
                data_dir, ["ISIC_2019_Training_Metadata.csv", "*/ISIC_2019_Training_Metadata.csv"]
            )
            meta = table_by(read_csv_rows(meta_path, ("image",)), "image") if meta_path else {}
        except LayoutError as e:
            raise self.missing_data_error(str(e)) from e
        for p in list_images(images, (".jpg", ".jpeg")):
            # The CSVs name an image by its file stem, "_downsampled" included (see the docstring).
            image_id = p.stem
            row = truth.get(image_id)
            label = one_hot_class(row, CLASSES) if row else None
            group = (meta.get(image_id) or {}).get("lesion_id") or image_id
            yield Record(paths=p, patient_id=group, volume_id=image_id, label=label, reader="image")

    def list_entry_key(self, entry: str) -> str:
        name = entry.rsplit("/", 1)[-1]
        i = name.find("ISIC_")
        return name[i:] if i > 0 else entry

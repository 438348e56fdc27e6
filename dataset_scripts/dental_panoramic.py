"""Panoramic Dental X-rays With Segmented Mandibles (Abdi et al.): 116 radiographs with mandible masks.

Accepted layout (Mendeley Data hxt48yk462, unzipped)::

    <data_dir>/[<release folder>/]Images/<n>.png              e.g. 100.png
    <data_dir>/[<release folder>/]Segmentation1/<n>.png       (mandible mask by expert 1 -> feature "mask")
    (Segmentation2/, the second expert's masks, is ignored)

Each radiograph is one patient. Verified: image names from the LVM-Med list (``<n>.png``); the
Images / Segmentation1 / Segmentation2 folders (116 files each) from the Mendeley page and the
dataset-ninja summary of the release.
"""

from pathlib import Path

import datasets

from lvmmed_hf.data.builder import LvmMedSourceBuilder, Record
from lvmmed_hf.data.layouts.images import find_dir, list_images, with_file_bytes


class DentalPanoramic(LvmMedSourceBuilder):
    source_name = "dental_panoramic"
    pretty_name = "Panoramic Dental X-rays (segmented mandibles)"
    description = (
        "Panoramic dental radiographs (Isfahan, Iran) with manual mandible segmentations by two experts."
    )
    homepage = "https://data.mendeley.com/datasets/hxt48yk462/1"
    license = "CC BY 4.0"
    access = "direct download from Mendeley Data, no registration"
    citation = """@article{abdi2015automatic,
  title={Automatic segmentation of mandible in panoramic x-ray},
  author={Abdi, Amir Hossein and Kasaei, Shohreh and Mehdizadeh, Mojdeh},
  journal={Journal of Medical Imaging}, volume={2}, number={4}, pages={044003}, year={2015}
}"""
    modality = "X-ray"
    organ = "teeth"
    dimensionality = "2d"
    split_rule = "random_20pct_by_volume"
    layout = "Images/<n>.png [+ Segmentation1/<n>.png]"
    label_names = None
    lvmmed_file_list = "DentalPanoramicXrays_X-ray_Tooth"
    file_list_match = "path"
    extra_features = {"mask": datasets.Image()}

    def iter_records(self, data_dir: Path):
        images = find_dir(data_dir, ["Images", "images", "*/Images", "*/images"])
        if images is None:
            return
        for p in list_images(images, (".png", ".jpg", ".bmp")):
            mask = images.parent / "Segmentation1" / f"{p.stem}.png"
            yield Record(
                paths=p,
                patient_id=p.stem,
                reader="image",
                extras={"mask": str(mask) if mask.is_file() else None},
            )

    def examples_from_record(self, record, report):
        for ex in super().examples_from_record(record, report):
            yield with_file_bytes(ex, ["mask"])

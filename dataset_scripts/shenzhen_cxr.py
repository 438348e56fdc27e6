"""Shenzhen chest X-ray set (NLM / Shenzhen No.3 People's Hospital): 662 frontal CXRs, 336 with tuberculosis.

Accepted layouts (the image folder is found at any depth, so each distribution works unchanged)::

    NLM archive ChinaSet_AllFiles.zip:
        ChinaSet_AllFiles/CXR_png/CHNCXR_<nnnn>_<0|1>.png      _0 normal, _1 tuberculosis
        ChinaSet_AllFiles/ClinicalReadings/CHNCXR_<nnnn>_<0|1>.txt   (not read)
    Kaggle mirror "pulmonary-chest-xray-abnormalities":
        ChinaSet_AllFiles/ChinaSet_AllFiles/CXR_png/CHNCXR_<nnnn>_<0|1>.png
    Kaggle "tuberculosis-chest-xrays-shenzhen": images/images/CHNCXR_<nnnn>_<0|1>.png

Only files named exactly ``CHNCXR_<4 digits>_<0|1>.png`` are images of the set: the separately
published lung masks (``CHNCXR_<nnnn>_<0|1>_mask.png``) and macOS ``._`` forks are ignored; a file
name found twice (a mirror packed twice) is read once. One image per patient: ``patient_id`` is
``CHNCXR_<nnnn>``.

Verified: LVM-Med's list Shenzhen_X-ray_Lung.txt (158 bare file names such as ``CHNCXR_0002_0.png``,
84 normal and 74 tuberculosis) matches the file names; the folder names ``ChinaSet_AllFiles/CXR_png``
and the Kaggle double nesting were confirmed in public loaders (exact-string search of public code).
The label suffix convention is the NLM readme's (Jaeger et al. 2014).
"""

import re

from lvmmed_hf.data.builder import LvmMedSourceBuilder, Record

_NAME = re.compile(r"CHNCXR_(\d{4})_([01])\.png")


class ShenzhenCxr(LvmMedSourceBuilder):
    source_name = "shenzhen_cxr"
    pretty_name = "Shenzhen chest X-ray"
    description = (
        "Frontal chest radiographs from Shenzhen No.3 People's Hospital (Guangdong Medical College), "
        "326 normal and 336 with manifestations of tuberculosis, collected for computer-aided TB screening."
    )
    homepage = "https://lhncbc.nlm.nih.gov/LHC-downloads/downloads.html#tuberculosis-image-data-sets"
    license = "public domain (U.S. National Library of Medicine); cite the data paper"
    access = "direct download from the NLM (ChinaSet_AllFiles.zip), no registration; also mirrored on Kaggle"
    citation = """@article{jaeger2014two,
  title={Two public chest X-ray datasets for computer-aided screening of pulmonary diseases},
  author={Jaeger, Stefan and Candemir, Sema and Antani, Sameer and W{\\'a}ng, Yi-Xiang J. and Lu, Pu-Xuan and
      Thoma, George},
  journal={Quantitative Imaging in Medicine and Surgery}, volume={4}, number={6}, pages={475--477},
      year={2014}
}"""
    modality = "X-ray"
    organ = "chest"
    dimensionality = "2d"
    split_rule = "random_20pct_by_volume"
    layout = "[ChinaSet_AllFiles/]CXR_png/CHNCXR_<nnnn>_<0|1>.png (_0 normal, _1 tuberculosis), at any depth"
    label_names = ("normal", "tuberculosis")
    lvmmed_file_list = "Shenzhen_X-ray_Lung"
    file_list_match = "path"  # the list holds bare file names, matched as the last path part

    def iter_records(self, data_dir):
        seen = set()
        for p in sorted(data_dir.rglob("CHNCXR_*.png")):
            m = _NAME.fullmatch(p.name)
            if not m or p.name in seen or not p.is_file():
                continue
            seen.add(p.name)
            yield Record(
                paths=p,
                patient_id=f"CHNCXR_{m.group(1)}",
                label=self.label_names[int(m.group(2))],
                reader="image",
            )

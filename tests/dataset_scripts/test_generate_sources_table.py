"""scripts/generate_sources_table.py: the docs table rendered from the builders' facts."""

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "generate_sources_table.py"
GROUP_2D = [
    "aml_cytomorphology",
    "aptos2019",
    "bccd",
    "bcss",
    "c_nmc_leukemia",
    "covidx_ct",
    "dental_panoramic",
    "eyepacs",
    "hc18",
    "hyperkvasir",
    "isic2019",
    "kvasir_v2",
    "m2caiseg",
    "mll_bone_marrow",
    "nih_malaria",
    "nucls",
    "oct2017",
    "osteosarcoma_ut",
    "patchcamelyon",
    "rsna_bone_age",
    "saras_mesad",
    "shoulder_xray",
]


@pytest.fixture(scope="module")
def gen():
    spec = importlib.util.spec_from_file_location("generate_sources_table", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def fact(source, **kw):
    base = dict(
        source=source,
        pretty_name=source.title(),
        homepage="https://example.org/" + source,
        access="no registration",
        license="CC BY 4.0",
        modality="CT",
        organ="lung",
        dimensionality="3d",
        split_rule="official_train",
        layout="a/<x|y>.png",
        lvmmed_file_list="",
        description="",
        citation="",
        label_names=None,
    )
    base.update(kw)
    return base


def table_rows(text):
    return [line for line in text.splitlines() if line.startswith("| ") and not line.startswith("| Source")]


def test_render_rows_sorted_escaped_with_commands(gen):
    text = gen.render_sources_markdown(
        [fact("zeta", lvmmed_file_list="Zeta_List"), fact("alpha", license="a | b")]
    )
    rows = table_rows(text)
    assert [r.split("(`")[1].split("`)")[0] for r in rows] == ["alpha", "zeta"]
    assert "a \\| b" in rows[0] and "`a/<x\\|y>.png`" in rows[0]
    assert rows[0].count(" | ") == len(gen.COLUMNS) - 1  # no stray column from the escaped pipes
    assert "`lvmmed prepare --source alpha --data-dir <DIR> --out <OUT>`" in rows[0]
    assert "--file-list zeta=<Zeta_List.txt>" in rows[1]
    assert "2 sources." in text


def test_real_builders_and_check_mode(gen, tmp_path):
    facts = gen.collect_facts()
    names = {f["source"] for f in facts}
    assert set(GROUP_2D) <= names
    out = tmp_path / "sources.md"
    assert gen.main(["--out", str(out)]) == 0
    text = out.read_text()
    for name in GROUP_2D:
        assert f"(`{name}`)" in text
    assert gen.main(["--out", str(out), "--check"]) == 0
    out.write_text(text + "stale\n")
    assert gen.main(["--out", str(out), "--check"]) == 1

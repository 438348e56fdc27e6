"""`lvmmed sources --markdown`: the docs table rendered from the builders' facts."""

from pathlib import Path

import pytest

from lvmmed_hf.cli import main as cli_main
from lvmmed_hf.data import sources_table

DOCS_TABLE = Path(__file__).resolve().parents[2] / "docs" / "sources.md"
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
    return sources_table


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
    assert cli_main(["sources", "--markdown", "--out", str(out)]) == 0
    text = out.read_text()
    for name in GROUP_2D:
        assert f"(`{name}`)" in text
    assert cli_main(["sources", "--markdown", "--out", str(out), "--check"]) == 0
    out.write_text(text + "stale\n")
    assert cli_main(["sources", "--markdown", "--out", str(out), "--check"]) == 1


def test_docs_table_is_generated_from_the_current_builders():
    """docs/sources.md must be what the builders say today (regenerate with lvmmed sources --markdown)."""
    expected = sources_table.render_sources_markdown(sources_table.collect_facts())
    assert DOCS_TABLE.read_text(encoding="utf-8") == expected
    assert expected.count("\n| ") >= 56  # header row + at least the 55 LVM-Med sources

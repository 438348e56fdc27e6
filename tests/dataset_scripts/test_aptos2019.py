"""APTOS 2019: exercised by test_fundus_grades.py (shared shape with EyePACS); the list-prefix rule here."""

from lvmmed_hf.data.registry import get_source


def test_list_entry_key_strips_only_the_grade():
    b = get_source("aptos2019")
    assert b.list_entry_key(b, "4_c62585bd68fb.png") == "c62585bd68fb.png"
    assert b.list_entry_key(b, "c62585bd68fb.png") == "c62585bd68fb.png"
    assert b.list_entry_key(b, "train_images/c62585bd68fb.png") == "train_images/c62585bd68fb.png"

"""EyePACS: exercised by test_fundus_grades.py (shared shape with APTOS); the list-prefix rule here."""

from lvmmed_hf.data.registry import get_source


def test_list_entry_key_strips_only_the_grade():
    b = get_source("eyepacs")
    assert b.list_entry_key(b, "0_10003_left.jpeg") == "10003_left.jpeg"
    assert b.list_entry_key(b, "10003_left.jpeg") == "10003_left.jpeg"
    assert b.list_entry_key(b, "1_left.jpeg") == "1_left.jpeg"  # an id, not a grade prefix

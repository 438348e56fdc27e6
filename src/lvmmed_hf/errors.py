"""Exceptions for expected errors (the user's input, not bugs): ``lvmmed`` prints them as one line.

Subclasses also derive from the built-in exception a caller would naturally catch (``ValueError``,
``OSError``), so existing ``except`` clauses keep working.
"""

from __future__ import annotations


class LvmMedUserError(Exception):
    """An expected error (a missing folder, an unknown name, a full disk): the message names the
    input and what was expected."""


class InvalidOptionError(LvmMedUserError, ValueError):
    """An option value is out of its documented range (raised before any work is done)."""


class OutputError(LvmMedUserError, OSError):
    """The output location cannot be written: it is a file, not writable, or the disk is full."""

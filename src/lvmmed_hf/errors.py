"""Exceptions for expected errors: problems with the user's input, not bugs.

``lvmmed`` prints an :class:`LvmMedUserError` as one line on stderr and exits with status 2
(a traceback only on request); any other exception is a bug and keeps its traceback. Library code
raises subclasses that also derive from the built-in exception a caller would naturally catch
(``FileNotFoundError``, ``ValueError``, ...), so existing ``except`` clauses keep working.
"""

from __future__ import annotations


class LvmMedUserError(Exception):
    """An expected error: a missing folder, an unknown name, an invalid option, a full disk.

    The message is one line naming the input and what was expected.
    """


class InvalidOptionError(LvmMedUserError, ValueError):
    """An option value is out of its documented range (raised before any work is done)."""


class OutputError(LvmMedUserError, OSError):
    """The output location cannot be written: it is a file, not writable, or the disk is full."""

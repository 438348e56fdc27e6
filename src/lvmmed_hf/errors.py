class LvmMedUserError(Exception):
    """An expected error: shown as one line, exit code 2."""

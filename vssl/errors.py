"""Library exceptions. Only the CLI turns them into exit codes (see README, "Exit codes")."""


class VsslError(Exception):
    """An expected failure: bad input, bad config, missing cache. The message is one line."""

    exit_code = 2


class InputError(VsslError):
    """A path, file or option given by the user is wrong."""

    exit_code = 2


class CacheError(VsslError):
    """A cache is missing, incomplete, of another version, or corrupt."""

    exit_code = 3


class VideoError(VsslError):
    """One video cannot be decoded; recorded as failed in the manifest, the run goes on."""

    exit_code = 4


class TrainingError(VsslError):
    """Training had to stop (NaN loss, out of memory)."""

    exit_code = 5


class Stopped(VsslError):
    """A run stopped on SIGTERM / SIGINT / SIGUSR1 after saving what it had done (a checkpoint,
    committed shards); rerunning the same command resumes. Exit 130 after SIGINT, 75 otherwise."""

    exit_code = 75

    def __init__(self, message: str, exit_code: int = 75):
        super().__init__(message)
        self.exit_code = exit_code


class DiskFullError(VsslError):
    """No space left on the device (or too little to start a large write); what was committed is kept."""

    exit_code = 6

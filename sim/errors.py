"""The simulator's error types: each carries the exact text a real command would print."""


class SimError(Exception):
    """A command failure: ``lines`` go to stderr as they are, the exit status is 1."""

    def __init__(self, *lines, stdout=(), commit=False):
        super().__init__("\n".join(lines))
        self.lines = list(lines)
        self.stdout = list(stdout)
        # commit: the transaction's changes are written although the command fails
        self.commit = commit


class UsageError(SimError):
    """Bad invocation: the message, then the command's usage line."""


class ConfigError(Exception):
    """An invalid cluster description; ``problems`` lists every problem found, one per line."""

    def __init__(self, problems):
        super().__init__("\n".join(problems))
        self.problems = list(problems)


class Aborted(Exception):
    """Raised in a migrating process when SIGTERM/SIGINT asks it to stop."""

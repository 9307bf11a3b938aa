"""User-facing errors: each names where the problem is, and the CLI turns it into exit code 2."""
from __future__ import annotations


class SftSelectError(Exception):
    """An error the user can fix; printed as one message, never as a traceback."""

    exit_code = 2


class InputError(SftSelectError):
    """A problem in an input file, located by file, line (or row) and field."""

    def __init__(self, path: str, message: str, *, line: int | None = None, field: str | None = None):
        self.path, self.line, self.field, self.detail = str(path), line, field, message
        where = self.path + (f", line {line}" if line is not None else "")
        what = f"field '{field}': " if field else ""
        super().__init__(f"{where}: {what}{message}")

    def __reduce__(self):  # raised in a worker process, re-raised in the parent: keep every field
        return (self.__class__, (self.path, self.detail), {"line": self.line, "field": self.field,
                                                          "args": self.args})

    def __setstate__(self, state) -> None:
        self.line, self.field, self.args = state["line"], state["field"], state["args"]


class ConfigError(SftSelectError):
    """A configuration problem: unknown key, bad value, inconsistent options."""


class RunDirError(SftSelectError):
    """The run directory cannot be used as asked (exists, incomplete, not ours)."""


class MissingDependency(SftSelectError):
    """An optional dependency a chosen feature needs is not installed."""

    def __init__(self, package: str, feature: str, extra: str | None = None):
        hint = f"pip install 'sft-select[{extra}]'" if extra else f"pip install {package}"
        self._fields = (package, feature, extra)
        super().__init__(f"{feature} needs the package '{package}': {hint}")

    def __reduce__(self):  # raised in a worker process, re-raised in the parent
        return (self.__class__, self._fields)


class Terminated(KeyboardInterrupt):
    """SIGTERM (a scheduler or `timeout` stopping the job), handled like Ctrl-C: a clean, resumable stop."""

    exit_code = 143  # 128 + SIGTERM, what a shell reports for a job ended by SIGTERM


def load_error(option: str, spec: object, exc: BaseException, what: str = "offline") -> ConfigError:
    """A model named by the user that does not load (no such folder, a damaged or foreign config, weights
    that do not deserialize, an architecture the library does not know): one ConfigError naming the
    option, the path and the library's own reason, cut short."""
    from sft_select.core.textsafe import clip

    reason = " ".join(str(exc).split())  # one line, however the library laid it out
    return ConfigError(f"{option}: cannot load '{spec}' {what}: {type(exc).__name__}"
                       + (f": {clip(reason, 300)}" if reason else ""))

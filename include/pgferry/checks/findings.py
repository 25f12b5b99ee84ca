"""What a check reports, and how a precheck fails: one framework for both DAGs.

A Finding is a blocking error or a warning (a note is a warning that needs no action), with the
check's name, what is wrong (naming who and what), and how to fix it (the statement or the Param to
change). `run_checks` runs every check, even after one fails, so the user sees every problem at once;
`raise_if_blocking` then raises one PrecheckFailed listing them all.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass

ERROR = "error"
WARNING = "warning"

log = logging.getLogger("pgferry")


@dataclass(frozen=True)
class Finding:
    level: str
    check: str
    message: str
    fix: str = ""

    @property
    def blocking(self) -> bool:
        return self.level == ERROR

    def as_dict(self):
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Finding:
        return cls(d["level"], d["check"], d["message"], d.get("fix", ""))

    def __str__(self):
        return f"[{self.check}] {self.message}" + (f"; fix: {self.fix}" if self.fix else "")


def error(check: str, message: str, fix: str = "") -> Finding:
    return Finding(ERROR, check, message, fix)


def warning(check: str, message: str, fix: str = "") -> Finding:
    return Finding(WARNING, check, message, fix)


class PrecheckFailed(RuntimeError):
    """Every blocking finding of one precheck; `untouched` says what nothing was written to."""

    def __init__(self, findings: list[Finding], untouched: str = "the target"):
        self.findings = list(findings)
        errors = [f for f in self.findings if f.blocking]
        lines = [f"precheck found {len(errors)} blocking problem(s); nothing was written to {untouched}:"]
        lines += [f"  - {f}" for f in errors]
        super().__init__("\n".join(lines))

    @property
    def problems(self) -> list[str]:
        """The blocking findings' messages (with their fixes), as a person reads them."""
        return [str(f).split("] ", 1)[1] for f in self.findings if f.blocking]


def run_checks(checks: Iterable[Callable], ctx, on_error: Callable[[Callable, Exception], Finding]) -> list[Finding]:
    """Each check(ctx) in turn; one that raises becomes the Finding `on_error` makes of it, and the rest
    still run."""
    findings: list[Finding] = []
    for check in checks:
        try:
            findings += check(ctx)
        except Exception as e:   # noqa: BLE001 - every check runs; the failure is reported as a finding
            findings.append(on_error(check, e))
    return findings


def check_name(check: Callable) -> str:
    """`check_target_space` -> `target space`: how a finding names the check that made it."""
    return check.__name__.removeprefix("check_").replace("_", " ")


def log_findings(findings: Iterable[Finding], prefix: str = "precheck"):
    for f in findings:
        (log.error if f.blocking else log.warning)("%s %s", prefix, f)


def raise_if_blocking(findings: list[Finding], untouched: str = "the target"):
    if any(f.blocking for f in findings):
        raise PrecheckFailed(findings, untouched)


def names_list(names, limit: int = 15) -> str:
    names = list(names)
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")

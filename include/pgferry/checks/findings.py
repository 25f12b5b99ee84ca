"""What a check reports: a blocking error or a warning, with the check's name and what to fix."""
from __future__ import annotations

from dataclasses import asdict, dataclass

ERROR = "error"
WARNING = "warning"


@dataclass(frozen=True)
class Finding:
    level: str
    check: str
    message: str

    def as_dict(self):
        return asdict(self)

    def __str__(self):
        return f"[{self.check}] {self.message}"


class PrecheckFailed(RuntimeError):
    def __init__(self, findings: list[Finding]):
        self.findings = findings
        errors = [f for f in findings if f.level == ERROR]
        lines = [f"precheck found {len(errors)} blocking problem(s); nothing was written to the target:"]
        lines += [f"  - {f}" for f in errors]
        super().__init__("\n".join(lines))


def names_list(names, limit: int = 15) -> str:
    names = list(names)
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")

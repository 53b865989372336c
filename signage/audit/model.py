"""What an audit finds: plain data, shared by the engine and the outputs."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from ..i18n import _

# exit codes (documented in docs/log-format.md, "Verdicts and exit codes")
EXIT_OK, EXIT_VIOLATIONS, EXIT_BROKEN, EXIT_INPUT = 0, 1, 2, 3
#: the log holds a run in `mode = simulate` (`signage simulate`): never proof of play
EXIT_SIMULATED = 4
#: the log is partial (it starts after seq 0: its first record cannot be verified), unbroken,
#: and shows no violation in what could be verified: never "intact", never "compliant"
EXIT_PARTIAL = 5

#: causes of a gap, most serious first; a violation's ``cause`` is the first that applies
CAUSES = ("daemon_not_running", "screen_down", "driver_error", "records_dropped",
          "screen_blank", "store_content", "unknown")
#: flags that may accompany a cause
FLAGS = ("clock_step", "reboot")


class AuditInputError(Exception):
    """Unreadable input or a usage error: exit 3 with this message."""


@dataclass(frozen=True, slots=True)
class Finding:
    kind: str
    file: str
    line: int | None
    seq: int | None
    message: str
    breaks: bool  # True: the log is untrusted; False: a warning

    def text(self) -> str:
        where = self.file + (f":{self.line}" if self.line else "")
        seq = _(" (seq {seq})").format(seq=self.seq) if self.seq is not None else ""
        return f"{where}{seq}: {self.message}" if where else self.message


@dataclass(slots=True)
class FileInfo:
    name: str
    compressed: bool
    bytes: int
    records: int = 0
    first_seq: int | None = None
    last_seq: int | None = None
    sealed: bool = False
    torn: dict[str, Any] | None = None


@dataclass(slots=True)
class Integrity:
    #: no break found (chain, sequence, seals, anchor, key). Not "intact": see ``state``
    unbroken: bool = True
    records: int = 0
    files: list[FileInfo] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)  # findings per kind, all of them
    head: tuple[str, int, str] | None = None  # file, seq, mac
    anchor: dict[str, Any] | None = None
    wrong_key: bool = False
    #: records the audit could not verify and did not use: {file, line, seq, type}
    unverified: list[dict[str, Any]] = field(default_factory=list)
    versions: list[int] = field(default_factory=list)  # the log format versions read
    signed: Any = None  # format 2: a signed.SignedReport (signatures, witnesses, coverage)

    @property
    def partial(self) -> bool:
        """Unbroken, but the log starts after seq 0 (older files removed by retention, or not
        given): its first record's digest cannot be checked, so the log is verified from the
        next record on only. Honest retention, not tampering; but never "intact"."""
        return self.unbroken and self.counts.get("partial_start", 0) > 0

    @property
    def intact(self) -> bool:
        """Every record given verifies, from seq 0: the only state that may be called intact."""
        return self.unbroken and not self.partial

    @property
    def state(self) -> str:
        """"intact", "partial" or "broken"."""
        return "broken" if not self.unbroken else "partial" if self.partial else "intact"

    @property
    def verified_from(self) -> int | None:
        """A partial log: the first seq whose record is verified (the one after the
        unverified first record); None otherwise."""
        if not self.partial:
            return None
        if self.unverified:
            return int(self.unverified[0]["seq"]) + 1
        seqs = [f.seq for f in self.findings if f.kind == "partial_start" and f.seq is not None]
        return seqs[0] + 1 if seqs else None


@dataclass(frozen=True, slots=True)
class Violation:
    screen: str
    day: date
    start: int  # epoch ms
    end: int
    length_ms: int
    limit_ms: int
    cause: str
    causes: tuple[str, ...]
    flags: tuple[str, ...]


@dataclass(slots=True)
class DayStat:
    open_ms: int = 0
    af_ms: int = 0
    af_showings: int = 0
    max_gap_ms: int = 0
    violations: int = 0
    violation_ms: int = 0
    #: longest gap touching each local hour, and opening time in each hour (for the chart)
    hours: list[int] = field(default_factory=lambda: [0] * 24)
    open_hours: list[int] = field(default_factory=lambda: [0] * 24)
    #: audited time in each hour (inside the period and the screen's life, open or not):
    #: an hour with none is "unaudited", not "closed"
    audited_hours: list[int] = field(default_factory=lambda: [0] * 24)


@dataclass(frozen=True, slots=True)
class Outage:
    kind: str  # screen_down | daemon_not_running | no_records
    screen: str | None
    start: int
    end: int
    reason: str


@dataclass(slots=True)
class ItemCount:
    item: str
    category: str | None
    showings: int = 0
    ms: int = 0
    screens: set[str] = field(default_factory=set)


@dataclass(slots=True)
class AlertCount:
    """One urgent alert (category 预警, docs/alerts.md) on one screen."""

    screen: str
    item: str
    showings: int = 0
    ms: int = 0
    first: int = 0  # epoch ms: start of the first showing
    last: int = 0  # end of the last


@dataclass(slots=True)
class Compliance:
    site: dict[str, Any] = field(default_factory=dict)
    tz: str = "Asia/Shanghai"
    period: tuple[int, int] = (0, 0)
    limit_ms: int = 60_000
    #: the planner's own target, max_gap - margin (from the log's rule): gaps up to it are
    #: "within the planned margin"
    planned_ms: int = 55_000
    limit_source: str = "log"
    measure: str = "end-to-start"
    screens: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> run_start entry
    days: dict[str, dict[date, DayStat]] = field(default_factory=dict)
    violations: int = 0
    outages: list[Outage] = field(default_factory=list)
    items: dict[str, ItemCount] = field(default_factory=dict)
    alerts: dict[tuple[str, str], AlertCount] = field(default_factory=dict)
    catalogue: dict[str, dict[str, Any]] = field(default_factory=dict)
    clock_steps: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    #: where the yardstick (rule, hours, screens) comes from: "log" or "profile"
    yardstick: str = "log"
    #: each change of the yardstick a reload made (source "log"), or each difference of a
    #: configuration in the log from the registered profile (source "profile"):
    #: {seq, at (epoch ms), record, what, before | log, after | profile, effect}
    config_changes: list[dict[str, Any]] = field(default_factory=list)
    #: gaps within the limit in force but longer than the strictest limit the log named
    lenient_gaps: int = 0
    #: runs of `signage simulate` (mode = simulate) found in the log: run id, first wall ms
    simulated_runs: list[tuple[str, int]] = field(default_factory=list)
    real_runs: int = 0

    def max_gap_ms(self, screen: str) -> int:
        return max((d.max_gap_ms for d in self.days.get(screen, {}).values()), default=0)


@dataclass(slots=True)
class AuditResult:
    integrity: Integrity
    compliance: Compliance
    violations: Any  # an iterable of Violation (kept on disk when there are many)
    #: `--simulated`: judge a simulated log by its figures (exit 0/1), still marked simulated
    preview_simulated: bool = False

    @property
    def exit_code(self) -> int:
        if not self.integrity.unbroken:
            return EXIT_BROKEN
        if self.compliance.simulated_runs and not self.preview_simulated:
            return EXIT_SIMULATED
        if self.compliance.violations:  # proven by verified records, whatever came before
            return EXIT_VIOLATIONS
        return EXIT_PARTIAL if self.integrity.partial else EXIT_OK

    @property
    def verdict(self) -> str:
        return {EXIT_OK: "compliant", EXIT_VIOLATIONS: "violations",
                EXIT_BROKEN: "integrity_broken", EXIT_SIMULATED: "simulated",
                EXIT_PARTIAL: "partial"}[self.exit_code]

    def simulated_banner(self) -> str | None:
        """The warning every output format carries when the log holds a simulated run."""
        from ..i18n import _

        c = self.compliance
        if not c.simulated_runs:
            return None
        if c.real_runs:
            return _("SIMULATED, NOT PROOF OF PLAY: {n} of the {t} runs in this log were "
                     "`signage simulate` runs (mode = simulate) on a virtual clock; their "
                     "showings were never on a screen, and the log as a whole proves "
                     "nothing").format(n=len(c.simulated_runs),
                                       t=len(c.simulated_runs) + c.real_runs)
        return _("SIMULATED, NOT PROOF OF PLAY: this log was written by `signage simulate` "
                 "(mode = simulate) on a virtual clock; nothing in it was shown on a screen")

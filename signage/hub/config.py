"""hub.toml: the hub's own config (docs/fleet.md, "Hub configuration"). Strict: unknown keys
and wrong types are refused with the file, the field, the line and what is allowed."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from ..config import Strict, check_broker_url, check_id, resolve
from ..fleet.mqtt import BrokerSpec
from ..fleet.protocol import PREFIX
from ..i18n import _
from ..problems import read_toml, validated


class BrokerSection(Strict):
    url: str = "mqtt://localhost:1883"
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    username: str | None = None
    password_file: str | None = None
    client_id: str = Field(default="signage-hub", min_length=1, max_length=64)
    prefix: str = Field(default=PREFIX, pattern=r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$")
    #: topic filters; default: the log, status, checkpoint and online topics of every site.
    #: `$share/<group>/<filter>` for several hub processes (docs/fleet.md)
    subscribe: list[str] = Field(default=[], max_length=64)

    _url = field_validator("url")(check_broker_url)


class HttpSection(Strict):
    listen: str = "127.0.0.1"
    port: int = Field(default=8780, ge=0, le=65535)
    enabled: bool = True


class SiteEntry(Strict):
    id: str
    #: log format v1: the site key (HMAC) the box's log is chained with
    v1_key_file: str | None = None
    #: the site's administrative division codes (GB/T 2260): `--to REGION` reaches it
    regions: list[str] = Field(default=[], max_length=16)

    _id = field_validator("id")(check_id)

    @field_validator("regions")
    @classmethod
    def _regions(cls, v: list[str]) -> list[str]:
        for r in v:
            if not (len(r) == 6 and r.isdigit()):
                raise ValueError(_("region {r!r}: a 6-digit administrative division "
                                   "code").format(r=r))
        return v


class Webhook(Strict):
    url: str = Field(pattern=r"^https?://", max_length=2048)
    format: Literal["json", "wecom", "dingtalk"] = "json"
    #: a screen down this long in opening hours raises an alert
    down_after_s: float = Field(default=120.0, ge=0, le=86400)
    #: at most one message per site, screen and kind this often
    min_interval_s: float = Field(default=300.0, ge=0, le=86400)


class HubConfig(Strict):
    data_dir: str = "hub-data"
    trust_file: str | None = None
    #: the authority's signing key (PEM, mode 0600) for `signage hub alert` and `publish`
    #: (docs/alerts.md); only the machine that sends needs it
    authority_key: str | None = None
    silent_after_s: float = Field(default=300.0, gt=0, le=86400 * 7)
    #: fsync the copies and publish acks this often, seconds
    ack_interval_s: float = Field(default=0.5, gt=0, le=60)
    #: write the counted rows to the Parquet dataset this often, seconds (a crash loses at
    #: most this much of rows, restored from the copies on the next start)
    parquet_flush_s: float = Field(default=10.0, gt=0, le=86400)
    broker: BrokerSection = BrokerSection()
    http: HttpSection = HttpSection()
    site: list[SiteEntry] = []
    webhook: list[Webhook] = []


class LoadedHub:
    def __init__(self, cfg: HubConfig, path: Path) -> None:
        self.cfg = cfg
        self.path = path
        self.base = path.parent

    def p(self, value: str) -> Path:
        return resolve(self.base, value)

    @property
    def data_dir(self) -> Path:
        return self.p(self.cfg.data_dir)

    def broker(self) -> BrokerSpec:
        b = self.cfg.broker
        return BrokerSpec(b.url, self._opt(b.ca_file), self._opt(b.cert_file),
                          self._opt(b.key_file), b.username, self._opt(b.password_file))

    def _opt(self, v: str | None) -> Path | None:
        return self.p(v) if v else None

    def subscriptions(self) -> list[str]:
        pre = self.cfg.broker.prefix
        return self.cfg.broker.subscribe or [f"{pre}/+/{k}" for k in
                                             ("log", "status", "checkpoint", "online",
                                                     "report/alert", "report/publication")]


def load_hub(path: Path) -> LoadedHub:
    data, text = read_toml(path)
    cfg = validated(HubConfig, data, path, text)
    return LoadedHub(cfg, path)


def site_dirs(root: Path) -> list[Path]:
    """The sites' directories under the hub's data_dir (here, not in ingest.py: a command
    that only sends, such as `signage hub alert`, does not load the ingest and pyarrow)."""
    return sorted(p for p in root.iterdir() if p.is_dir() and p.name != "showings") \
        if root.is_dir() else []

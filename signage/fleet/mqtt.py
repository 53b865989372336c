"""An MQTT client (paho-mqtt 2) from a broker URL and credentials, shared by the box and the
hub. TLS verification is always on for mqtts://; plain mqtt:// only to this machine."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from ..i18n import _

LOCAL = ("localhost", "127.0.0.1", "::1")


class BrokerConfigError(ValueError):
    """A broker URL or credential set that cannot be used."""


@dataclass(frozen=True)
class BrokerSpec:
    url: str
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    username: str | None = None
    password_file: Path | None = None


def parse_url(url: str) -> tuple[bool, str, int]:
    """(tls, host, port) of mqtts://host[:port] or mqtt://host[:port]."""
    u = urlsplit(url)
    if u.scheme not in ("mqtt", "mqtts") or not u.hostname:
        raise BrokerConfigError(_("broker {url!r}: use mqtts://HOST[:PORT] or "
                                  "mqtt://HOST[:PORT]").format(url=url))
    if u.path not in ("", "/") or u.query or u.username or u.password:
        raise BrokerConfigError(_("broker {url!r}: no path, query or credentials in the "
                                  "URL").format(url=url))
    tls = u.scheme == "mqtts"
    try:
        port = u.port or (8883 if tls else 1883)
    except ValueError:
        raise BrokerConfigError(_("broker {url!r}: bad port").format(url=url)) from None
    if not tls and u.hostname not in LOCAL:
        raise BrokerConfigError(
            _("broker {url!r}: plain mqtt:// only to this machine ({hosts}); use mqtts:// with "
              "ca_file").format(url=url, hosts=", ".join(LOCAL)))
    return tls, u.hostname, port


def make_client(spec: BrokerSpec, client_id: str) -> tuple[mqtt.Client, str, int]:
    """A configured MQTT 5 client (not connected) and the host and port to connect to."""
    tls, host, port = parse_url(spec.url)
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                    protocol=mqtt.MQTTv5)
    c.max_inflight_messages_set(64)
    c.max_queued_messages_set(0)
    c.reconnect_delay_set(min_delay=1, max_delay=30)
    if tls:
        ctx = ssl.create_default_context(
            cafile=str(spec.ca_file) if spec.ca_file else None)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        if spec.cert_file is not None:
            try:
                ctx.load_cert_chain(str(spec.cert_file),
                                    str(spec.key_file) if spec.key_file else None)
            except (OSError, ssl.SSLError) as exc:
                raise BrokerConfigError(
                    _("client certificate {cert_file}: "
                      "{exc}").format(cert_file=spec.cert_file, exc=exc)) from None
        c.tls_set_context(ctx)
    if spec.username is not None:
        pw = None
        if spec.password_file is not None:
            try:
                pw = spec.password_file.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise BrokerConfigError(
                    f"password_file {spec.password_file}: {exc.strerror}") from None
        c.username_pw_set(spec.username, pw)
    return c, host, port


def connect_props(clean_start: bool, session_expiry_s: int) -> Properties:
    p = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    p.SessionExpiryInterval = 0 if clean_start else session_expiry_s
    return p

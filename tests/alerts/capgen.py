"""Build CAP 1.2 documents for the tests (the same shape as docs/alerts.md's example)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

CN = timezone(timedelta(hours=8))


def cap_time(t: datetime) -> str:
    return t.astimezone(CN).replace(microsecond=0).isoformat()


def cap(identifier: str = "GA-330106-2026-0001", *, sender: str = "fzzx@hz.gov.cn",
        sent: datetime | None = None, status: str = "Actual", msg_type: str = "Alert",
        references: str = "", headline: str = "警惕冒充客服退款诈骗",
        description: str = "近期有骗子冒充电商客服，以退款为由诱导转账。",
        instruction: str = "凡是自称客服要求转账的都是诈骗，请拨打96110咨询。",
        expires: datetime | None = None, effective: datetime | None = None,
        sites: tuple[str, ...] = (), regions: tuple[str, ...] = ("330106",),
        repeat_s: int | None = None, language: str = "zh-CN", extra_head: str = "") -> bytes:
    sent = sent or datetime.now(CN)
    expires = expires or sent + timedelta(hours=2)
    refs = f"<references>{references}</references>" if references else ""
    eff = f"<effective>{cap_time(effective)}</effective>" if effective else ""
    rep = (f"<parameter><valueName>signage:repeat_s</valueName><value>{repeat_s}</value>"
           "</parameter>") if repeat_s is not None else ""
    geos = "".join(f"<geocode><valueName>site</valueName><value>{s}</value></geocode>"
                   for s in sites)
    geos += "".join(f"<geocode><valueName>region</valueName><value>{r}</value></geocode>"
                    for r in regions)
    doc = f"""<?xml version="1.0" encoding="UTF-8"?>{extra_head}
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>{identifier}</identifier>
  <sender>{sender}</sender>
  <sent>{cap_time(sent)}</sent>
  <status>{status}</status>
  <msgType>{msg_type}</msgType>
  <scope>Public</scope>
  {refs}
  <info>
    <language>{language}</language>
    <category>Security</category>
    <event>电信网络诈骗预警</event>
    <urgency>Immediate</urgency>
    <severity>Severe</severity>
    <certainty>Observed</certainty>
    <senderName>杭州市反诈中心</senderName>
    <headline>{headline}</headline>
    <description>{description}</description>
    <instruction>{instruction}</instruction>
    {eff}
    <expires>{cap_time(expires)}</expires>
    {rep}
    <area><areaDesc>西湖区</areaDesc>{geos}</area>
  </info>
</alert>
"""
    return doc.encode("utf-8")


def ref(doc_identifier: str, sent: datetime, sender: str = "fzzx@hz.gov.cn") -> str:
    return f"{sender},{doc_identifier},{cap_time(sent)}"

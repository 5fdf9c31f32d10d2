"""A domain's DNS check results as readable cards: status, what was found, warnings and advice."""

from __future__ import annotations

from typing import Any

from nicegui import ui

from components.badges import status_badge
from components.format import when

TITLES = {"spf": "SPF", "dkim": "DKIM", "dmarc": "DMARC", "mx": "MX", "reverse_dns": "Reverse DNS",
          "mta_sts": "MTA-STS", "tls_rpt": "TLS-RPT", "bimi": "BIMI"}
ADVICE = {
    ("spf", "error"): "Publish exactly one TXT record starting with \"v=spf1 \" that authorizes your mail server "
                      "(e.g. mx or ip4:…) and ends with -all or ~all.",
    ("spf", "warning"): "Tighten the policy to -all (or ~all) and stay within 10 DNS lookups.",
    ("dkim", "error"): "Publish the DKIM key mailcow shows (Configuration → ARC/DKIM keys) as a TXT record at the "
                       "selector name.",
    ("dkim", "warning"): "Use a 2048-bit RSA key with sha256 and leave testing mode (t=y) once mail verifies.",
    ("dmarc", "error"): "Publish a TXT record at _dmarc.<domain>, for example \"v=DMARC1; p=none; "
                        "rua=mailto:dmarc@<domain>\", then tighten the policy step by step.",
    ("dmarc", "warning"): "Once the reports show your own mail passing, move the policy to quarantine and then "
                          "reject.",
    ("mx", "error"): "Point the domain's MX record at your mailcow host name.",
    ("reverse_dns", "error"): "Ask your hosting provider to set the PTR record of the server IP to its host name.",
    ("mta_sts", "warning"): "Optional: publish an MTA-STS policy to make senders require TLS.",
    ("tls_rpt", "warning"): "Optional: publish _smtp._tls.<domain> with rua=mailto:… to receive TLS reports.",
}
DETAIL_FIELDS = ("record", "actual_record", "expected_record", "policy", "subdomain_policy", "pct", "selector",
                 "dkim_domain", "dns_lookups", "hosts", "ptr", "mode", "mx", "location")


def status_chips(checks: dict[str, Any]) -> None:
    """One small coloured chip per check (the summary line of a domain)."""
    for name, title in TITLES.items():
        check = checks.get(name)
        if not isinstance(check, dict):
            continue
        status_badge(check.get("status") or "unknown", label=title).tooltip(check.get("message") or "")


def dns_cards(checks: dict[str, Any], *, marker: str | None = None) -> None:
    with ui.element("div").classes("grid gap-3 w-full grid-cols-1 md:grid-cols-2 xl:grid-cols-3") as grid:
        for name, title in TITLES.items():
            check = checks.get(name)
            if isinstance(check, dict):
                dns_card(name, title, check)
    if marker:
        grid.mark(marker)
    ui.label(f"Checked {when(checks.get('checked_at')) or 'never'}").classes("text-xs text-gray-500")


def dns_card(name: str, title: str, check: dict[str, Any]) -> None:
    status = str(check.get("status") or "unknown")
    border = {"success": "border-l-green-600", "warning": "border-l-amber-500", "error": "border-l-red-600"}
    with ui.card().classes(f"p-3 gap-1 border-l-4 {border.get(status, 'border-l-gray-400')}") \
            .props("flat bordered").mark(f"dns-{name}"):
        with ui.row().classes("items-center gap-2 w-full"):
            ui.label(title).classes("font-semibold")
            ui.space()
            status_badge(status)
        ui.label(check.get("message") or "").classes("text-sm")
        for key in DETAIL_FIELDS:
            value = check.get(key)
            if value in (None, "", [], {}):
                continue
            text = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
            with ui.row().classes("gap-1 no-wrap text-xs w-full items-start"):
                ui.label(key.replace("_", " ")).classes("text-gray-500 shrink-0")
                shown = ui.label(text).classes("font-mono break-all line-clamp-3")
                if len(text) > 120:  # a key: copy it whole rather than read it
                    shown.tooltip(text)
                    ui.button(icon="content_copy", on_click=lambda t=text: ui.clipboard.write(t)) \
                        .props("flat round dense size=xs").tooltip("Copy")
        for warning in check.get("warnings") or []:
            with ui.row().classes("gap-1 no-wrap items-start text-xs text-amber-800 dark:text-amber-300"):
                ui.icon("warning").classes("shrink-0")
                ui.label(str(warning))
        for info in check.get("info") or []:
            with ui.row().classes("gap-1 no-wrap items-start text-xs text-gray-600 dark:text-gray-400"):
                ui.icon("info").classes("shrink-0")
                ui.label(str(info))
        advice = ADVICE.get((name, status))
        if advice:
            with ui.row().classes("gap-1 no-wrap items-start text-xs text-blue-800 dark:text-blue-300"):
                ui.icon("lightbulb").classes("shrink-0")
                ui.label(advice)

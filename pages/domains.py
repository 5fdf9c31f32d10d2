"""/domains: mailcow's domains with mailbox, alias and quota figures, and their DNS checks."""

from __future__ import annotations

import asyncio

from nicegui import ui

from components.badges import status_badge
from components.cards import notice, stat_card
from components.context import engine, io_bound, mailcow_factory, settings
from components.dns_cards import dns_cards, status_chips
from components.format import count, size, when
from components.frame import frame
from mlv.dns.service import UnknownDomain, list_domains, run_checks
from mlv.dns.store import save_results

PARALLEL = 4


async def _load() -> dict:
    return await io_bound(list_domains, engine(), settings(), mailcow_factory())


async def check_one(name: str) -> dict:
    summary = await run_checks(engine(), settings(), mailcow_factory(), domain=name)
    return summary


async def check_all(names: list[str], progress) -> dict:  # type: ignore[no-untyped-def]
    """Every active domain, a few at a time, reporting (done, total) as each finishes; recorded as a full run."""
    done, errors, checked = 0, [], 0
    gate = asyncio.Semaphore(PARALLEL)

    async def one(name: str) -> None:
        nonlocal done, checked
        async with gate:
            try:
                summary = await check_one(name)
                checked += summary["domains_checked"]
                errors.extend(summary["errors"])
            except UnknownDomain as exc:
                errors.append(f"{name}: {exc}")
            except Exception as exc:  # one domain must not stop the others
                errors.append(f"{name}: {exc}")
        done += 1
        progress(done, len(names))

    await asyncio.gather(*(one(n) for n in names))
    await io_bound(save_results, engine(), {}, full=True, server_id=settings().server_id,
                       domains_checked=checked, errors=errors)
    return {"domains_checked": checked, "errors": errors}


@ui.page("/domains")
async def domains_page() -> None:
    with frame("Domains"):
        with ui.row().classes("w-full items-center gap-2"):
            ui.label("Domains").classes("text-xl font-semibold")
            ui.space()
            last = ui.label().classes("text-xs text-gray-500").mark("last-dns-check")
            all_button = ui.button("Check all now", icon="dns").props("outline dense no-caps").mark("check-all")
        progress = ui.linear_progress(value=0, show_value=False).props("rounded size=8px").classes("w-full")
        progress_label = ui.label().classes("text-sm text-gray-600").mark("check-progress")
        progress.set_visibility(False)
        summary = ui.row().classes("w-full gap-3")
        listing = ui.column().classes("w-full gap-2").mark("domain-list")

    async def render() -> None:
        data = await _load()
        last.text = f"Last full check: {when(data.get('last_dns_check')) or 'never'}"
        summary.clear()
        with summary:
            stat_card("Domains", count(data["total"]), icon="dns", sub=f"{data['active']} active")
            stat_card("Mailboxes", count(sum(d["mboxes_in_domain"] for d in data["domains"])), icon="inbox")
            stat_card("Aliases", count(sum(d["aliases_in_domain"] for d in data["domains"])), icon="alternate_email")
        listing.clear()
        with listing:
            if not data["domains"]:
                notice("No domains yet: they arrive with the first import from mailcow.", kind="info")
            for d in data["domains"]:
                domain_item(d)

    def domain_item(d: dict) -> None:
        name = d["domain_name"]
        with ui.expansion().classes("w-full border border-gray-200 dark:border-gray-700 rounded").props("dense") \
                .mark(f"domain-{name}") as item:
            with item.add_slot("header"), ui.row().classes("w-full items-center gap-3 py-1"):
                ui.label(name).classes("font-semibold min-w-[12rem]")
                if not d["active"]:
                    status_badge("idle", label="inactive")
                ui.label(f"{d['mboxes_in_domain']}/{d['max_num_mboxes_for_domain']} mailboxes · "
                         f"{d['aliases_in_domain']}/{d['max_num_aliases_for_domain']} aliases · "
                         f"{size(d['quota_used_in_domain'])} of {size(d['max_quota_for_domain']) or '∞'} · "
                         f"{count(d['msgs_total'])} messages").classes("text-sm text-gray-600")
                ui.space()
                with ui.row().classes("gap-1") as chips:
                    status_chips(d["dns_checks"])
            body = ui.column().classes("w-full gap-2 p-2")

            def fill(checks: dict) -> None:
                chips.clear()
                with chips:
                    status_chips(checks)
                body.clear()
                with body:
                    with ui.row().classes("w-full items-center"):
                        ui.label(f"created {when(d.get('created')) or '–'}").classes("text-xs text-gray-500")
                        ui.space()
                        button = ui.button("Check now", icon="refresh").props("outline dense no-caps") \
                            .mark(f"check-{name}")
                    dns_cards(checks, marker=f"dns-cards-{name}")

                async def check() -> None:
                    button.props("loading")
                    try:
                        result = await check_one(name)
                    except UnknownDomain as exc:
                        ui.notify(f"{name}: {exc}", type="warning")
                        return
                    finally:
                        button.props(remove="loading")
                    ui.notify(f"DNS checked for {name}", type="positive")
                    fill(result["results"].get(name, checks))  # replaces this button too: last

                button.on_click(check)

            filled = {"done": False}

            def open_once(e) -> None:  # type: ignore[no-untyped-def]
                if e.value and not filled["done"]:  # the cards are built when first opened
                    filled["done"] = True
                    fill(d["dns_checks"])

            item.on_value_change(open_once)

    async def run_all() -> None:
        data = await _load()
        names = [d["domain_name"] for d in data["domains"] if d["active"]]
        all_button.props("loading")
        progress.set_visibility(True)

        def report(done: int, total: int) -> None:
            progress.value = done / total if total else 1
            progress_label.text = f"Checked {done} of {total} domains"

        report(0, len(names))
        try:
            result = await check_all(names, report)
        finally:
            all_button.props(remove="loading")
        problems = result["errors"]
        progress_label.text = (f"Done: {len(names)} of {len(names)} domains checked"
                               + (f" — {len(problems)} could not be fully checked: " + "; ".join(problems[:3])
                                  if problems else ""))
        await render()

    all_button.on_click(run_all)
    await render()

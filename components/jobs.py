"""Background jobs with their live status: last run, duration, errors, pending items, "run now"."""

from __future__ import annotations

from typing import Any

from nicegui import background_tasks, ui

from components.badges import status_badge
from components.context import on_job_change, scheduler
from components.format import ago, when
from mlv.jobs import registry


def job_cards() -> None:
    """A card per job; refreshed when a job's status changes (the jobs announce it)."""

    @ui.refreshable
    def cards() -> None:
        sched = scheduler()
        with ui.element("div").classes("grid gap-3 w-full grid-cols-1 md:grid-cols-2 xl:grid-cols-3") \
                .mark("job-cards"):
            for name, job in registry.snapshot().items():
                _card(name, job, sched)

    cards()
    on_job_change(lambda name: cards.refresh())


def _card(name: str, job: dict[str, Any], sched: Any) -> None:
    with ui.card().classes("p-3 gap-1").props("flat bordered").mark(f"job-{name}"):
        with ui.row().classes("items-center gap-2 w-full no-wrap"):
            ui.label(name.replace("_", " ").capitalize()).classes("font-semibold")
            ui.space()
            status_badge(job["status"]).mark(f"job-status-{name}")
        ui.label(job.get("description") or "").classes("text-xs text-gray-500")
        when_text = job.get("interval") or job.get("schedule") or "not scheduled"
        ui.label(f"Runs: {when_text}").classes("text-xs")
        last = job.get("last_run")
        ui.label(f"Last run: {when(last) or 'never'}" + (f" ({ago(last)})" if last else "")
                 + (f" · {job['last_duration_s']} s" if job.get("last_duration_s") is not None else "")) \
            .classes("text-xs")
        if job.get("pending_items") is not None:
            ui.label(f"Pending items: {job['pending_items']:,}").classes("text-xs")
        details = {k: v for k, v in (job.get("details") or {}).items() if not isinstance(v, dict | list)}
        if details:
            ui.label(" · ".join(f"{k} {v}" for k, v in details.items())).classes("text-xs text-gray-500")
        if job.get("error"):
            ui.label(job["error"]).classes("text-xs p-2 rounded bg-red-50 text-red-900 dark:bg-red-950 "
                                           "dark:text-red-100 break-all").mark(f"job-error-{name}")
        can_run = sched is not None and sched.scheduler.get_job(name) is not None
        button = ui.button("Run now", icon="play_arrow").props("flat dense no-caps").mark(f"run-{name}")
        if not can_run:
            button.disable()
            button.tooltip("Not scheduled in this process")
        elif job["status"] == "running":
            button.props("loading")
        else:
            button.on_click(lambda: background_tasks.create(sched.run_now(name), name=f"run-now-{name}"))

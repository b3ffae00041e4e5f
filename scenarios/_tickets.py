"""Troubleshooting tickets (bundled JSON): logs, simulated device state and ground truth, plus
the pure functions behind the parse_logs and run_diagnostic tools.

Each diagnostic is a rule over the ticket's device facts, so a check reports what a real probe
would see ("pass"/"warn"/"fail"/"not_applicable") instead of echoing stored answers.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Literal, get_args

from scenarios._common import load_json

CheckName = Literal[
    "network_connectivity", "dns_resolution", "clock_sync", "certificate_store", "disk_space",
    "driver_version", "service_status", "account_status", "recent_updates", "battery_health",
]
"""The enumerated diagnostics (a Literal, so the tool's JSON schema carries an enum)."""
CHECKS: tuple[str, ...] = get_args(CheckName)
LOG_LINE = re.compile(r"^(\S+)\s+(DEBUG|INFO|WARN|WARNING|ERROR|FATAL)\s+([\w.-]+):\s*(.*)$")
PROBLEM_LEVELS = ("WARN", "WARNING", "ERROR", "FATAL")
MAX_CLOCK_OFFSET_S = 120
MIN_FREE_MB = 1024
MIN_BATTERY_PCT = 60

Result = dict[str, str]


def tickets() -> dict[str, dict[str, Any]]:
    """Every bundled ticket by id (read-only)."""
    return {t["id"]: t for t in load_json("troubleshooting/tickets.json")["tickets"]}


def find_ticket(ticket: str) -> dict[str, Any] | None:
    """A ticket by id, tolerating case and a missing dash or prefix ('t-101', 'T101', '101')."""
    digits = re.sub(r"\D", "", ticket)
    for ticket_id, item in tickets().items():
        if ticket.strip().upper() == ticket_id or (digits and ticket_id.endswith(f"-{digits}")):
            return item
    return None


def parse_logs(item: dict[str, Any]) -> dict[str, Any]:
    """Warnings and errors with their timestamps; info lines are only counted."""
    problems: list[dict[str, str]] = []
    lines = item["logs"]
    for line in lines:
        match = LOG_LINE.match(line)
        if match and match.group(2) in PROBLEM_LEVELS:
            time, level, source, message = match.groups()
            problems.append({"time": time, "level": level.replace("WARNING", "WARN"),
                             "source": source, "message": message})
    errors = [p for p in problems if p["level"] in ("ERROR", "FATAL")]
    return {
        "ticket": item["id"], "lines": len(lines), "errors": len(errors),
        "warnings": len(problems) - len(errors), "entries": problems,
        "first_error_at": errors[0]["time"] if errors else None,
        "last_error_at": errors[-1]["time"] if errors else None,
    }


def _result(status: str, detail: str) -> Result:
    return {"status": status, "detail": detail}


def _network(d: dict[str, Any]) -> Result:
    if d.get("link") != "up" or not d.get("gateway_reachable", True):
        return _result("fail", "no link or gateway unreachable")
    if d.get("packet_loss_pct", 0) > 2:
        return _result("fail", f"packet loss {d['packet_loss_pct']}%")
    late = d.get("link_up_after_logon_s")
    if late and late > 20:
        return _result("warn", f"link up, but only {late} s after logon")
    return _result("pass", f"link up, gateway reachable, loss {d.get('packet_loss_pct', 0)}%")


def _dns(d: dict[str, Any]) -> Result:
    if d.get("dns_resolves", True):
        return _result("pass", "names resolve")
    return _result("fail", f"no answer from DNS servers {d.get('dns_servers', [])}")


def _clock(d: dict[str, Any]) -> Result:
    offset, service = d.get("clock_offset_s", 0), d.get("time_service", "running")
    detail = f"clock offset {offset} s from the time source; time service {service}"
    return _result("fail" if abs(offset) > MAX_CLOCK_OFFSET_S or service != "running" else "pass",
                   detail)


def _certificates(d: dict[str, Any]) -> Result:
    have = {c["name"]: c["expires"] for c in d.get("certificates", [])}
    missing = [n for n in d.get("required_certificates", []) if n not in have]
    expired = [f"{n} (expired {e})" for n, e in have.items() if e < d.get("today", "")]
    if missing or expired:
        return _result("fail", f"missing: {missing or 'none'}; expired: {expired or 'none'}")
    return _result("pass", "required root certificates present and valid")


def _disk(d: dict[str, Any]) -> Result:
    free, total = d.get("disk_free_mb", 0), d.get("disk_total_mb", 1)
    detail = f"{free} MB free of {total} MB ({free / total:.1%})"
    return _result("fail" if free < MIN_FREE_MB else "pass", detail)


def _driver(d: dict[str, Any]) -> Result:
    driver = d.get("printer_driver")
    if not driver:
        return _result("not_applicable", "no printer queue configured")
    same = driver["installed"] == driver["expected"]
    return _result("pass" if same else "fail", f"queue {driver['queue']}: installed "
                   f"'{driver['installed']}', expected '{driver['expected']}'")


def _services(d: dict[str, Any]) -> Result:
    services = d.get("services", {})
    stopped = [n for n, state in services.items() if state != "running"]
    if stopped:
        return _result("fail", f"not running: {', '.join(stopped)}")
    return _result("pass", f"running: {', '.join(services) or 'no monitored services'}")


def _account(d: dict[str, Any]) -> Result:
    account = dict(d.get("account", {"state": "active"}))
    state = account.pop("state")
    extra = "; ".join(f"{k}: {v}" for k, v in account.items())
    status = "fail" if state != "active" else "warn" if extra else "pass"
    return _result(status, f"account {state}" + (f"; {extra}" if extra else ""))


def _updates(d: dict[str, Any]) -> Result:
    updates = d.get("updates", [])
    listed = ", ".join(f"{u['name']} ({u['installed']})" for u in updates)
    return _result("info", f"recent updates: {listed or 'none in the last 30 days'}")


def _battery(d: dict[str, Any]) -> Result:
    battery = d.get("battery")
    if not battery:
        return _result("pass", "battery healthy")
    detail = (f"capacity {battery['capacity_pct_of_design']}% of design, "
              f"{battery['cycle_count']} cycles, swelling suspected: "
              f"{battery['swelling_suspected']}")
    bad = battery["swelling_suspected"] or battery["capacity_pct_of_design"] < MIN_BATTERY_PCT
    return _result("fail" if bad else "pass", detail)


DIAGNOSTICS: dict[str, Callable[[dict[str, Any]], Result]] = {
    "network_connectivity": _network, "dns_resolution": _dns, "clock_sync": _clock,
    "certificate_store": _certificates, "disk_space": _disk, "driver_version": _driver,
    "service_status": _services, "account_status": _account, "recent_updates": _updates,
    "battery_health": _battery,
}
assert set(DIAGNOSTICS) == set(CHECKS)


def run_diagnostic(item: dict[str, Any], check: str) -> dict[str, str]:
    """One enumerated check over the ticket's simulated device state."""
    rule = DIAGNOSTICS.get(check)
    if rule is None:
        return {"ticket": item["id"], "check": check, "status": "unknown_check",
                "detail": f"checks: {', '.join(CHECKS)}"}
    return {"ticket": item["id"], "check": check, **rule(item["device"])}

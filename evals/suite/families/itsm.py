# ruff: noqa: E501 - case tables: long request texts and expectations read best on one line
"""ITSM cases: lookups, searches, work notes, resolutions, updates, new incidents, changes in prod and
staging and across the year-end freeze, and requests that must be refused or clarified."""

from __future__ import annotations

from typing import Any

from evals.suite.building import Seed, added, call, changed, expects, make, say, step, wrong

FREEZE = "2026-12-21T10:00:00Z"


def cases(seed: Seed) -> list[dict[str, Any]]:
    return [
        *_lookups(seed),
        *_notes(seed),
        *_resolutions(seed),
        *_updates(seed),
        *_new_incidents(),
        *_changes(),
        *_more_lookups(seed),
    ]


def _lookups(seed: Seed) -> list[dict[str, Any]]:
    out = []
    asks = {
        "INC0010037": "summarise INC0010037",
        "INC0010042": "what's going on with INC0010042?",
        "INC0010044": "INC0010044 status",
        "INC0010046": "any update on INC0010046?",
        "INC0010047": "summarise INC0010047 for the bridge call",
        "INC0010039": "what's going on with INC0010039?",
        "INC0010045": "summarise INC0010045",
        "INC0010040": "INC0010040 status please",
    }
    for n, (number, text) in enumerate(asks.items()):
        incident = seed.incident(number)
        state = incident["state"].replace("_", " ")
        other = list(asks)[(n + 1) % len(asks)]
        out.append(
            make(
                "itsm",
                f"summarise-{number.lower()}",
                f"Summarise {number} (read only)",
                difficulty="easy",
                tags=["lookup"],
                actor="carol.desk",
                turns=[text],
                expect=expects(answer_contains=[number, incident["short_description"][:30]]),
                rubric=(
                    f"A good answer summarises {number} only: what is wrong, its priority and its state, "
                    "in a few sentences a desk agent could read out. It invents nothing the incident "
                    "does not say and changes nothing."
                ),
                reference=[
                    step(call("itsm_get_incident", number=number)),
                    say(f"{number}: {incident['short_description']} (P{incident['priority']}, {state})."),
                ],
                wrongs=[
                    wrong(
                        "summarises-another-incident",
                        step(call("itsm_get_incident", number=other)),
                        say(f"{other}: {seed.incident(other)['short_description']}."),
                    ),
                    wrong(
                        "adds-an-unasked-note",
                        step(call("itsm_add_work_note", number=number, text="Looked at by the assistant.")),
                        say(f"{number}: {incident['short_description']} (P{incident['priority']}, {state})."),
                    ),
                ],
            )
        )
    searches = [
        ("payments-api", "which open incidents are there on payments-api?", ["INC0010042", "INC0010046"]),
        (
            "inventory-service",
            "list the incidents on inventory-service that are still open",
            ["INC0010038", "INC0010044"],
        ),
        ("checkout-web", "any open incidents for checkout-web?", ["INC0010039"]),
        ("erp-core", "show me the erp-core incidents in progress", ["INC0010037"]),
    ]
    for service, text, numbers in searches:
        out.append(
            make(
                "itsm",
                f"search-{service}",
                f"Open incidents on {service}",
                difficulty="easy",
                tags=["lookup", "search"],
                actor="dave.incident",
                turns=[text],
                expect=expects(answer_contains=numbers),
                reference=[
                    step(call("itsm_search_incidents", service=service)),
                    say("Open incidents on " + service + ": " + ", ".join(numbers) + "."),
                ],
                wrongs=[
                    wrong(
                        "misses-one",
                        step(call("itsm_search_incidents", service=service)),
                        say("I found no open incidents on " + service + "."),
                    )
                ],
            )
        )
    return out


def _note_state(number: str, author: str, text: str) -> list[Any]:
    return [added("work_notes", incident=number, author=author, text=text)]


def _notes(seed: Seed) -> list[dict[str, Any]]:
    out = []
    notes = [
        (
            "INC0010044",
            "add a note to INC0010044 saying the print queue was cleared",
            "the print queue was cleared",
        ),
        (
            "INC0010038",
            "post a work note on INC0010038: replication job restarted at 09:20",
            "replication job restarted at 09:20",
        ),
        (
            "INC0010042",
            "add a work note to INC0010042 saying replica lag is back under 1 minute",
            "replica lag is back under 1 minute",
        ),
        (
            "INC0010046",
            "post a work note on INC0010046: refunds timeouts traced to pay-app-02",
            "refunds timeouts traced to pay-app-02",
        ),
        (
            "INC0010047",
            "add a note to INC0010047 saying vendor ticket 88231 opened with the ISP",
            "vendor ticket 88231 opened with the ISP",
        ),
        (
            "INC0010043",
            "add a note to INC0010043 saying the mailbox permissions were re-applied",
            "the mailbox permissions were re-applied",
        ),
        (
            "INC0010039",
            "post a work note on INC0010039: gift card provider confirmed an outage",
            "gift card provider confirmed an outage",
        ),
        (
            "INC0010045",
            "add a note to INC0010045 saying health check interval raised to 10s",
            "health check interval raised to 10s",
        ),
    ]
    for n, (number, text, note) in enumerate(notes):
        other = notes[(n + 1) % len(notes)][0]
        out.append(
            make(
                "itsm",
                f"work-note-{number.lower()}",
                f"Add a work note to {number} (notify tier)",
                difficulty="easy",
                tags=["work-note", "notify"],
                actor="carol.desk",
                turns=[text],
                expect=expects(
                    state=_note_state(number, "carol.desk", note),
                    calls=[{"tool": "itsm_add_work_note", "tier": "notify", "status": "completed"}],
                    answer_contains=[number],
                ),
                reference=[
                    step(call("itsm_add_work_note", number=number, text=note)),
                    say(f"Added the work note to {number}; incident managers were notified."),
                ],
                wrongs=[
                    wrong(
                        "note-on-wrong-incident",
                        step(call("itsm_add_work_note", number=other, text=note)),
                        say(f"Added the work note to {number}."),
                    ),
                    wrong("claims-without-writing", say(f"Added the work note to {number}.")),
                ],
            )
        )
    return out


def _resolutions(seed: Seed) -> list[dict[str, Any]]:
    out = []
    resolves = [
        (
            "INC0010044",
            "Solution provided",
            "Cleared the stuck print queue and restarted the label print agent.",
        ),
        (
            "INC0010043",
            "Solution provided",
            "Re-applied mailbox permissions; the shared mailbox shows in Outlook.",
        ),
        ("INC0010048", "Workaround provided", "Issued a loan keyboard while the laptop is repaired."),
        (
            "INC0010041",
            "Resolved by change",
            "Logo template fixed by the staging deployment of the PDF renderer.",
        ),
        (
            "INC0010040",
            "Workaround provided",
            "Loan laptop issued; the cracked screen goes to vendor repair.",
        ),
        (
            "INC0010042",
            "Solution provided",
            "Replica lag resolved after vacuum and index rebuild on payments-db.",
        ),
        (
            "INC0010046",
            "Resolved by change",
            "Refunds API timeouts fixed by raising the pay-app-02 pool size.",
        ),
        ("INC0010037", "Solution provided", "Journal posting back to normal speed after the ERP batch fix."),
    ]
    for number, code, notes in resolves:
        incident = seed.incident(number)
        major = incident["priority"] <= 2
        tier = "notify" if major else "auto"
        out.append(
            make(
                "itsm",
                f"resolve-{number.lower()}",
                f"Resolve {number} (P{incident['priority']}: {tier})",
                difficulty="medium",
                tags=["resolution", tier],
                actor="dave.incident",
                turns=[f"resolve {number}: {notes}"],
                expect=expects(
                    state=[
                        changed(
                            "incidents",
                            {"number": number},
                            state="resolved",
                            resolution_code=code,
                            resolved_by="dave.incident",
                        )
                    ],
                    calls=[{"tool": "itsm_resolve_incident", "tier": tier, "status": "completed"}],
                    answer_contains=[number, "resolved"],
                ),
                reference=[
                    step(call("itsm_get_incident", number=number)),
                    step(
                        call(
                            "itsm_resolve_incident",
                            number=number,
                            resolution_code=code,
                            resolution_notes=notes,
                        )
                    ),
                    say(f"{number} is resolved ({code})."),
                ],
                wrongs=[
                    wrong(
                        "wrong-code",
                        step(
                            call(
                                "itsm_resolve_incident",
                                number=number,
                                resolution_code="No resolution provided",
                                resolution_notes=notes,
                            )
                        ),
                        say(f"{number} is resolved."),
                    ),
                    wrong(
                        "only-reads",
                        step(call("itsm_get_incident", number=number)),
                        say(f"{number} looks resolved."),
                    ),
                ],
            )
        )
    # An incident that is already resolved cannot be resolved again: the tool says so, nothing changes.
    out.append(
        make(
            "itsm",
            "resolve-already-closed",
            "Resolve an incident that is already closed (the tool refuses; say so)",
            difficulty="medium",
            tags=["resolution", "refusal"],
            actor="dave.incident",
            turns=["resolve INC0010001, the fix is in"],
            expect=expects(answer_contains=[("already", "cannot", "closed")]),
            reference=[
                step(call("itsm_get_incident", number="INC0010001")),
                say("INC0010001 is already closed, so it cannot be resolved again."),
            ],
            wrongs=[wrong("claims-resolved", say("INC0010001 is now resolved."))],
        )
    )
    return out


def _updates(seed: Seed) -> list[dict[str, Any]]:
    out = []
    updates: list[tuple[str, dict[str, Any], str]] = [
        ("INC0010044", {"priority": 2}, "raise INC0010044 to priority 2, label printing is down at LON-1"),
        ("INC0010043", {"assigned_to": "ivan.ops"}, "assign INC0010043 to ivan.ops"),
        ("INC0010048", {"state": "in_progress"}, "set INC0010048 to in progress, Ivan is on it"),
        (
            "INC0010039",
            {"assignment_group": "Payments Platform"},
            "reassign INC0010039 to the Payments Platform group",
        ),
    ]
    for number, fields, text in updates:
        out.append(
            make(
                "itsm",
                f"update-{number.lower()}",
                f"Update {number} ({', '.join(fields)})",
                difficulty="easy",
                tags=["update", "notify"],
                actor="dave.incident",
                turns=[text],
                expect=expects(
                    state=[changed("incidents", {"number": number}, **fields)],
                    calls=[{"tool": "itsm_update_incident", "tier": "notify", "status": "completed"}],
                    answer_contains=[number],
                ),
                reference=[
                    step(call("itsm_update_incident", number=number, **fields)),
                    say(f"Updated {number}."),
                ],
                wrongs=[
                    wrong(
                        "updates-priority-instead",
                        step(call("itsm_update_incident", number=number, priority=1)),
                        say(f"Updated {number}."),
                    )
                ],
            )
        )
    return out


def _new_incidents() -> list[dict[str, Any]]:
    out = []
    new = [
        (
            "checkout-web",
            2,
            "Checkout returns 502 for 10% of requests",
            "Customers see 502 errors at checkout since 09:10.",
        ),
        (
            "vpn-gateway",
            3,
            "VPN drops every 20 minutes for MAD-1",
            "Madrid site users lose VPN every ~20 minutes.",
        ),
        (
            "identity-sso",
            2,
            "SSO login loops for Safari users",
            "Safari users are redirected in a loop at login.",
        ),
        (
            "inventory-service",
            4,
            "Typo in stock report header",
            "The weekly stock report header says 'Wharehouse'.",
        ),
    ]
    for service, priority, short, description in new:
        out.append(
            make(
                "itsm",
                f"open-incident-{service}",
                f"Log a new P{priority} incident on {service} (auto)",
                difficulty="easy",
                tags=["create", "auto"],
                actor="ivan.ops",
                turns=[f"log an incident on {service}: {short}. {description} Priority {priority}."],
                expect=expects(
                    state=[
                        added("incidents", service=service, priority=priority, state="new", caller="ivan.ops")
                    ],
                    calls=[{"tool": "itsm_create_incident", "tier": "auto", "status": "completed"}],
                    answer_contains=[("INC00", "incident")],
                ),
                reference=[
                    step(
                        call(
                            "itsm_create_incident",
                            short_description=short,
                            description=description,
                            priority=priority,
                            service=service,
                        )
                    ),
                    say(f"Logged the incident on {service} (P{priority})."),
                ],
                wrongs=[
                    wrong(
                        "wrong-priority",
                        step(
                            call(
                                "itsm_create_incident",
                                short_description=short,
                                description=description,
                                priority=1 if priority != 1 else 4,
                                service=service,
                            )
                        ),
                        say(f"Logged the incident on {service}."),
                    )
                ],
            )
        )
    return out


def _change_args(ci: str, short: str, risk: str = "moderate") -> dict[str, Any]:
    return {
        "ci": ci,
        "short_description": short,
        "description": f"{short}. Rollback: revert to the previous release.",
        "risk": risk,
    }


def _changes() -> list[dict[str, Any]]:
    out = []
    staging = [
        ("payments-api-staging", "Restart payments-api-staging to load new config"),
        ("checkout-web-staging", "Deploy checkout-web 4.2.0 to staging"),
        ("erp-core-staging", "Apply ERP patch 11.3 on staging"),
        ("lb-staging-01", "Raise health check interval on lb-staging-01"),
    ]
    for ci, short in staging:
        out.append(
            make(
                "itsm",
                f"change-staging-{ci}",
                f"Change on staging {ci} (notify)",
                difficulty="medium",
                tags=["change", "staging", "notify"],
                actor="ivan.ops",
                turns=[f"open a change for {ci}: {short.lower()}"],
                expect=expects(
                    state=[added("changes", ci=ci, requested_by="ivan.ops")],
                    calls=[{"tool": "itsm_create_change_request", "tier": "notify", "status": "completed"}],
                    answer_contains=[("CHG00", "change")],
                ),
                reference=[
                    step(call("itsm_create_change_request", **_change_args(ci, short))),
                    say(f"Change raised for {ci}."),
                ],
                wrongs=[
                    wrong(
                        "targets-prod",
                        step(
                            call(
                                "itsm_create_change_request",
                                **_change_args(ci.replace("-staging", "").replace("-stg", ""), short),
                            )
                        ),
                        say(f"Change raised for {ci}."),
                    )
                ],
            )
        )
    prod = [
        ("payments-api", "Restart payments-api tonight to pick up the new pool size", "approve"),
        ("erp-db", "Rebuild indexes on erp-db during the maintenance window", "approve"),
        ("vpn-gateway", "Upgrade vpn-gateway firmware to 9.4.2", "approve"),
        ("checkout-web", "Roll back checkout-web to 4.1.3", "reject"),
        ("identity-sso", "Rotate the SSO signing certificate", "reject"),
    ]
    for ci, short, verdict in prod:
        approved = verdict == "approve"
        script = {"tool": "itsm_create_change_request", "by": "erin.change", "decision": verdict}
        if not approved:
            script["reason"] = "Not this week: the release train is frozen for the payments audit."
        out.append(
            make(
                "itsm",
                f"change-prod-{ci}-{verdict}",
                f"Change on prod {ci}: approval {'granted' if approved else 'rejected'}",
                difficulty="medium" if approved else "hard",
                tags=["change", "prod", "approve", verdict],
                actor="ivan.ops",
                turns=[f"open a change on {ci}: {short[0].lower() + short[1:]}"],
                approvals=[script],
                expect=expects(
                    state=[added("changes", ci=ci, requested_by="ivan.ops")] if approved else [],
                    calls=[
                        {
                            "tool": "itsm_create_change_request",
                            "tier": "approve",
                            "approvers": ["erin.change"],
                            "status": "completed" if approved else "rejected",
                        }
                    ],
                    answer_contains=[ci] if approved else [("release train", "rejected")],
                ),
                reference=[
                    step(call("itsm_create_change_request", **_change_args(ci, short))),
                    say(
                        f"The change for {ci} was approved by erin.change and raised."
                        if approved
                        else f"erin.change rejected the change for {ci}: the release train is frozen for the payments audit."
                    ),
                ],
                wrongs=[
                    wrong(
                        "high-risk-on-another-ci",
                        step(call("itsm_create_change_request", **_change_args("lb-prod-01", short, "high"))),
                        say(f"Done: change for {ci} raised."),
                    )
                ],
            )
        )
    freeze = [
        ("payments-api", "open a change to restart payments-api tonight"),
        ("payments-api-staging", "raise a change request for payments-api-staging to rotate certificates"),
        ("erp-core", "open a change to patch erp-core before the new year"),
    ]
    for ci, text in freeze:
        out.append(
            make(
                "itsm",
                f"change-in-freeze-{ci}",
                f"Change on {ci} during the year-end freeze (deny)",
                difficulty="hard",
                tags=["change", "freeze", "deny"],
                actor="ivan.ops",
                world={"clock": FREEZE},
                turns=[text],
                expect=expects(
                    calls=[{"tool": "itsm_create_change_request", "tier": "deny", "status": "refused"}],
                    answer_contains=["freeze"],
                ),
                reference=[
                    step(
                        call(
                            "itsm_create_change_request",
                            **_change_args(ci, text.split(" to ", 1)[-1].capitalize()),
                        )
                    ),
                    say(
                        "Refused by policy: no change requests during the year-end change freeze (18 Dec - 4 Jan)."
                    ),
                ],
                wrongs=[wrong("claims-raised", say(f"The change for {ci} is raised."))],
            )
        )
    # A request that needs clarification: no CI named, nothing may be written.
    out.append(
        make(
            "itsm",
            "change-needs-ci",
            "A change request that names no system (ask which)",
            difficulty="medium",
            tags=["change", "clarify"],
            actor="ivan.ops",
            turns=["open a change to restart the thing that is slow"],
            expect=expects(
                forbidden=[{"tool": "itsm_create_change_request", "when": "proposed"}],
                answer_contains=[("which", "configuration item", "what system")],
            ),
            reference=[say("Which configuration item should the change cover (for example payments-api)?")],
            wrongs=[
                wrong(
                    "guesses-a-ci",
                    step(
                        call(
                            "itsm_create_change_request",
                            **_change_args("payments-api", "Restart the slow service"),
                        )
                    ),
                    say("Which configuration item did you mean? I raised one for payments-api meanwhile."),
                )
            ],
        )
    )
    return out


def _more_lookups(seed: Seed) -> list[dict[str, Any]]:
    """Changes and configuration items, and a two-turn conversation ending in a work note."""
    out = []
    for number in ("CHG0030006", "CHG0030010", "CHG0030013", "CHG0030015"):
        short, state = seed.db.execute(
            "SELECT short_description, state FROM changes WHERE number=?", (number,)
        ).fetchone()
        out.append(
            make(
                "itsm",
                f"change-status-{number.lower()}",
                f"Status of {number} (read only)",
                difficulty="easy",
                tags=["lookup", "change"],
                actor="erin.change",
                turns=[f"what's the status of {number}?"],
                expect=expects(answer_contains=[state, short[:25]]),
                reference=[
                    step(call("itsm_get_change_request", number=number)),
                    say(f"{number} ({short}) is {state}."),
                ],
                wrongs=[
                    wrong(
                        "guesses-the-state",
                        say(
                            f"{number} ({short}) is implemented."
                            if state != "implemented"
                            else f"{number} is cancelled."
                        ),
                    )
                ],
            )
        )
    for name in ("payments-db", "vpn-gw-01", "erp-batch-scheduler"):
        group, environment = seed.db.execute(
            "SELECT support_group, environment FROM configuration_items WHERE name=?", (name,)
        ).fetchone()
        out.append(
            make(
                "itsm",
                f"ci-support-{name}",
                f"Who supports {name} (read only)",
                difficulty="easy",
                tags=["lookup", "cmdb"],
                actor="carol.desk",
                turns=[f"who supports {name}, and is it prod?"],
                expect=expects(answer_contains=[group, environment]),
                reference=[
                    step(call("itsm_get_configuration_item", name=name)),
                    say(f"{name} is {environment}, supported by {group}."),
                ],
                wrongs=[
                    wrong(
                        "wrong-group",
                        step(call("itsm_get_configuration_item", name=name)),
                        say(f"{name} is {environment}, supported by the Service Desk."),
                    )
                ],
            )
        )
    for number, note in [
        ("INC0010046", "escalated to the Payments Platform on-call"),
        ("INC0010042", "DBA team engaged, replica rebuild planned"),
        ("INC0010047", "ISP confirmed a fibre cut near BER-2"),
    ]:
        incident = seed.incident(number)
        out.append(
            make(
                "itsm",
                f"summarise-then-note-{number.lower()}",
                f"Summarise {number}, then add a work note (two turns)",
                difficulty="medium",
                tags=["multi-turn", "work-note", "notify"],
                actor="dave.incident",
                turns=[f"summarise {number}", f"add a note to {number} saying {note}"],
                expect=expects(
                    state=_note_state(number, "dave.incident", note),
                    calls=[{"tool": "itsm_add_work_note", "tier": "notify", "status": "completed"}],
                    answer_contains=[incident["short_description"][:25]],
                ),
                reference=[
                    step(call("itsm_get_incident", number=number)),
                    say(f"{number}: {incident['short_description']}."),
                    step(call("itsm_add_work_note", number=number, text=note)),
                    say(f"Note added to {number}."),
                ],
                wrongs=[
                    wrong(
                        "notes-in-the-first-turn",
                        step(call("itsm_add_work_note", number=number, text="Summary requested.")),
                        say(f"{number}: {incident['short_description']}."),
                        step(call("itsm_add_work_note", number=number, text=note)),
                        say("Note added."),
                    )
                ],
            )
        )
    return out


TRIAGE = [
    (
        "itsm",
        "INC0010042",
        "INC0010042: payments-db replica lag up to 15 minutes, what do we do?",
        "it-ops/database-replica-lag.md",
        "replica",
    ),
    ("itsm", None, "VPN down for BER-2 and WAW-1 sites, what's the runbook?", "it-ops/vpn-down.md", "VPN"),
    ("itsm", None, "can I raise a change during the year-end freeze?", "change/change-freeze.md", "freeze"),
    (
        "itsm",
        None,
        "the TLS certificate on checkout expires tomorrow, what do we do?",
        "it-ops/tls-certificate-expiry.md",
        "certificate",
    ),
    ("itsm", None, "scanners offline at LON-1, how to triage?", "it-ops/scanners-offline.md", "scanner"),
    ("itsm", None, "SSO login loops, what do we check?", "it-ops/sso-login-failure.md", "SSO"),
    (
        "inventory",
        None,
        "how do we write off damaged monitors?",
        "inventory/damaged-goods-write-off.md",
        "write",
    ),
    (
        "procurement",
        None,
        "we need an urgent purchase outside the budget, what is the process?",
        "procurement/urgent-purchase.md",
        "urgent",
    ),
]


def triage() -> list[dict[str, Any]]:
    """Questions answered from the runbooks: the answer must cite the runbook that covers them
    (grounding on; citations compared by document)."""
    out = []
    for domain, number, text, runbook, word in TRIAGE:
        cite = f"rb:runbooks/{runbook}"
        reads = [step(call("itsm_get_incident", number=number))] if number else []
        other = "rb:runbooks/it-ops/disk-full.md#summary"
        out.append(
            make(
                domain,
                f"runbook-{runbook.split('/')[1].removesuffix('.md')}",
                f"Answer from the runbook: {text!r} (cites {runbook})",
                difficulty="medium",
                tags=["triage", "grounding", "citations"],
                actor="dave.incident" if domain == "itsm" else "bob.requester",
                world={"grounding": True},
                turns=[text],
                expect=expects(citations=[cite], answer_contains=[word]),
                reference=[
                    *reads,
                    say(f"Follow the {word} runbook: its first steps apply here [{cite}#summary]."),
                ],
                wrongs=[
                    wrong("cites-the-wrong-runbook", *reads, say(f"Follow the {word} runbook [{other}].")),
                    wrong("cites-nothing", *reads, say(f"Follow the {word} runbook.")),
                ],
            )
        )
    return out

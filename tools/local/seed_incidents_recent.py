"""Seeded incidents of the last week before the anchor: resolved ones and the open queue."""

from __future__ import annotations

from tools.local.seed_records import incident
from tools.models import Incident

_PAY, _WEB, _WMS, _ERP = "Payments Platform", "Web Platform", "Warehouse Systems", "ERP Team"
_NET, _IAM, _DBA, _DESK = "Network Operations", "Identity & Access", "Database Operations", "Service Desk"

RECENT_INCIDENTS: tuple[Incident, ...] = (
    incident(
        number="INC0010030", opened="2026-10-24 10:15", priority=2, state="resolved",
        service="checkout-web", ci="web-app-01", group=_WEB, assignee="dave.incident", caller="carol.desk",
        short="Checkout 'Place order' button does nothing for Safari users",
        description="""Several customers on iPhone and Mac Safari cannot place orders: clicking 'Place order'
            does nothing. Chrome and Firefox fine. Conversion on Safari down ~40% since yesterday's
            release.""",
        resolved=("2026-10-26 15:00", "Solution provided", """Checkout bundle used a regex lookbehind that
            Safari 15 cannot parse, so the whole script failed to load. Hotfix transpiles the bundle for
            Safari >= 14; deployed at 14:40 on web-app-01/02. Verified order placement on Safari 15.6 and
            16.4."""),
    ),
    incident(
        number="INC0010031", opened="2026-10-26 08:10", priority=3, state="resolved",
        service="vpn-gateway", ci="vpn-gw-01", group=_NET, assignee="ivan.ops", caller="alice.requester",
        short="VPN asks for MFA twice on every connect",
        description="Since the weekend the VPN asks me to approve two MFA prompts each time I connect.",
        resolved=("2026-10-26 11:20", "Solution provided", """vpn-gw-01 had both the legacy RADIUS MFA profile
            and the SAML MFA policy enabled after the 25 Oct config sync. Disabled the RADIUS MFA profile;
            single prompt confirmed with the caller."""),
    ),
    incident(
        number="INC0010032", opened="2026-10-27 13:58", priority=1, state="resolved",
        service="payments-api", ci="payments-api", group=_PAY, assignee="dave.incident", caller="carol.desk",
        short="Checkout returns 502: payments-api errors after config change",
        description="""checkout-web returns 502 on 'Pay now' for most customers since ~13:55. payments-api
            pods log 'timeout acquiring connection from pool'. Started right after a config change to
            payments-api.""",
        resolved=("2026-10-27 14:50", "Solution provided", """Rolled back payments-api to v2.14.3; 502s
            stopped at 14:32. Root cause: connection pool exhaustion after config change CHG0030012 cut the DB
            pool from 50 to 10 connections per node while v2.15.0 holds a connection for the whole webhook
            retry. Follow-up CHG0030013 re-deploys 2.15.1 with a pool of 40 and connections released between
            retries."""),
        notes=(
            ("dave.incident", "2026-10-27 14:05", """Major incident declared, bridge open. All payments-api
                nodes at 10/10 pool connections, requests queueing."""),
            ("erin.change", "2026-10-27 14:12", """CHG0030012 implemented at 13:10 today (pool size 50 -> 10).
                Rollback plan in the change: redeploy previous release with previous config."""),
            ("dave.incident", "2026-10-27 14:24", """Rolling back payments-api to v2.14.3 on pay-app-01 and
                pay-app-02."""),
            ("dave.incident", "2026-10-27 14:34", """Rollback complete at 14:29, 502 rate back to 0 at 14:32.
                Monitoring."""),
        ),
    ),
    incident(
        number="INC0010033", opened="2026-10-27 14:05", priority=2, state="resolved",
        service="checkout-web", ci="checkout-web", group=_DESK, assignee="carol.desk", caller="bob.requester",
        short="Customers report error 502 on the order confirmation page",
        description="Customer care has had 30+ calls in 10 minutes about an error 502 after paying.",
        resolved=("2026-10-27 14:55", "Duplicate", """Duplicate of INC0010032 (payments-api 502s after
            CHG0030012). Orders go through again since 14:32; customer care informed."""),
    ),
    incident(
        number="INC0010034", opened="2026-10-28 08:30", priority=3, state="resolved",
        service="inventory-service", ci="inv-app-01", group=_WMS, assignee="ivan.ops",
        caller="frank.warehouse",
        short="Reorder report lists items that are in stock at AMS-1",
        description="""Today's reorder report for AMS-1 has 60+ lines for items we clearly have on the shelf,
            e.g. CBL-USBC-1M and BOX-M-400.""",
        resolved=("2026-10-29 10:40", "Solution provided", """Report compared the reorder point with on-hand
            minus every reservation, including expired ones. Purged 212 expired reservations and changed the
            report to ignore reservations past their expiry; the AMS-1 report now matches the shelf
            count."""),
    ),
    incident(
        number="INC0010035", opened="2026-10-28 11:20", priority=4, state="resolved",
        group=_DESK, assignee="carol.desk", caller="heidi.finance",
        short="Excel add-in for ERP exports missing after Office update",
        description="The ERP export tab disappeared from Excel after yesterday's update.",
        resolved=("2026-10-28 16:05", "Solution provided", """Office update disabled the add-in because its
            signing certificate was not trusted. Security approved the publisher certificate; re-enabled the
            add-in from the trust center and exports work."""),
    ),
    incident(
        number="INC0010036", opened="2026-10-29 09:45", priority=3, state="resolved",
        service="identity-sso-staging", ci="sso-app-stg-01", group=_IAM, assignee="ivan.ops",
        caller="erin.change",
        short="Staging SSO login loops back to the login page",
        description="Logging in to any staging app redirects back to the SSO login page forever.",
        resolved=("2026-10-29 12:10", "Solution provided", """Cookie domain on sso-app-stg-01 was set to the
            prod domain by the 28 Oct config template change, so browsers dropped the session cookie. Fixed
            the template variable and redeployed staging SSO; login works."""),
    ),
    incident(
        number="INC0010037", opened="2026-10-29 13:10", priority=2, state="in_progress",
        service="erp-core", ci="erp-db", group=_ERP, assignee="dave.incident", caller="heidi.finance",
        short="Month-end close: ERP journal posting runs 4x slower than usual",
        description="""Month-end close started at 12:00; the journal posting batch is at 25% after 70 minutes
            (normally done within the hour). It has to finish before 31 Oct 17:00 for the group reporting
            deadline.""",
        notes=(
            ("dave.incident", "2026-10-29 14:05", """erp-db shows heavy lock waits on GL_BALANCES: the posting
                batch and the live cost-centre dashboard refresh are competing."""),
            ("ivan.ops", "2026-10-29 15:20", """Paused the dashboard refresh schedule until the close
                completes; batch throughput up 2x. Estimated finish 30 Oct 09:00. Monitoring."""),
            ("dave.incident", "2026-10-31 08:10", """Posting finished 30 Oct 10:15. Keeping open until the
                work_mem change CHG0030015 is in, so the next close does not repeat this."""),
        ),
    ),
    incident(
        number="INC0010038", opened="2026-10-30 07:20", priority=3, state="in_progress",
        service="inventory-service", ci="inventory-db", group=_DBA, assignee="ivan.ops",
        caller="ken.warehouse2",
        short="Warehouse dashboard shows WAW-1 stock about two hours behind",
        description="""The stock dashboard for WAW-1 lags the scanners by roughly two hours; the other
            warehouses are current.""",
        notes=(
            ("ivan.ops", "2026-10-30 09:00", """Dashboard reads from the inventory-db replica; replication
                slot for the WAW-1 partition is lagging. Investigating WAL sender on inventory-db."""),
        ),
    ),
    incident(
        number="INC0010039", opened="2026-10-30 11:30", priority=3, state="on_hold",
        service="checkout-web", ci="web-app-02", group=_WEB, assignee="ivan.ops", caller="alice.requester",
        short="Gift card balance check returns 'service unavailable'",
        description="Customers cannot check gift card balances on the website; redemption at checkout works.",
        notes=(
            ("ivan.ops", "2026-10-30 13:15", """Gift card provider confirms an outage of their balance API
                (their ticket GC-55120). On hold until they confirm the fix."""),
        ),
    ),
    incident(
        number="INC0010040", opened="2026-10-30 15:15", priority=4, state="on_hold",
        group=_DESK, assignee="carol.desk", caller="judy.cio",
        short="Cracked screen on laptop (LAP-14-PRO)",
        description="""Screen cracked in transit, bottom left corner; laptop still usable with an external
            monitor.""",
        notes=(
            ("carol.desk", "2026-10-30 16:00", """Replacement panel ordered from the vendor, ETA 4 Nov. On
                hold until the part arrives; loaner offered and declined."""),
        ),
    ),
    incident(
        number="INC0010041", opened="2026-10-30 16:40", priority=3, state="on_hold",
        service="erp-core-staging", ci="erp-app-stg-01", group=_ERP, assignee="ivan.ops",
        caller="grace.procure",
        short="ERP staging: PDF purchase orders render without the company logo",
        description="PO PDFs generated in ERP staging have an empty header where the logo should be.",
        notes=(
            ("ivan.ops", "2026-10-31 09:30", """Known issue in the vendor's print engine 7.3 with SVG logos;
                fix in patch 7.3.2 due mid-November. On hold for the patch; prod still on 7.2, not
                affected."""),
        ),
    ),
    incident(
        number="INC0010042", opened="2026-10-31 06:50", priority=2, state="in_progress",
        service="payments-api", ci="payments-db", group=_DBA, assignee="dave.incident", caller="ivan.ops",
        short="payments-db replica lag up to 15 minutes",
        description="""Replica lag alert on payments-db since 06:30, peaking at 15 min. Finance reports and
            refund lookups read from the replica and show stale data.""",
        notes=(
            ("dave.incident", "2026-10-31 08:20", """Lag caused by a long-running analytical query on the
                replica holding back replay (hot_standby_feedback). Query cancelled; lag shrinking, 4 min
                now."""),
        ),
    ),
    incident(
        number="INC0010043", opened="2026-10-31 09:12", priority=4, state="new",
        group=_DESK, caller="bob.requester",
        short="Shared procurement mailbox not showing in Outlook",
        description="I was added to procurement@ last week but the mailbox does not appear in Outlook.",
    ),
    incident(
        number="INC0010044", opened="2026-10-31 10:30", priority=3, state="new",
        service="inventory-service", ci="label-print-agent", group=_WMS, caller="frank.warehouse",
        short="LON-1 label printer queue stuck with 40 jobs pending",
        description="""Shipping labels for LON-1 are not printing; the print agent shows 40 jobs pending and
            the printer itself says ready. Outbound trucks leave at 15:00.""",
    ),
    incident(
        number="INC0010045", opened="2026-10-31 13:00", priority=3, state="in_progress",
        service="checkout-web-staging", ci="lb-staging-01", group=_WEB, assignee="ivan.ops",
        caller="erin.change",
        short="Staging load balancer health checks flapping for web-app-stg-01",
        description="""lb-staging-01 marks web-app-stg-01 up and down every few minutes; load test results for
            the 2.15.1 release are unusable.""",
    ),
    incident(
        number="INC0010046", opened="2026-10-31 17:45", priority=2, state="new",
        service="payments-api", ci="pay-app-02", group=_PAY, caller="carol.desk",
        short="Intermittent timeouts on the refunds API (~3% of calls)",
        description="""About 3% of refund calls time out after 30 s since ~17:00, all of them served by
            pay-app-02 according to the access logs.""",
    ),
    incident(
        number="INC0010047", opened="2026-10-31 21:40", priority=1, state="in_progress",
        service="vpn-gateway", ci="vpn-gw-01", group=_NET, assignee="dave.incident", caller="ken.warehouse2",
        short="VPN down for BER-2 and WAW-1 sites",
        description="""Site-to-site VPN from BER-2 and WAW-1 dropped at 21:30. Night shift scanners and label
            printers cannot reach inventory-service; both warehouses have stopped outbound picking.""",
        notes=(
            ("dave.incident", "2026-10-31 21:55", """Major incident. Tunnels to BER-2 and WAW-1 down on
                vpn-gw-01, AMS and LON fine. Peer logs show 'no proposal chosen' since 21:30."""),
            ("dave.incident", "2026-10-31 22:20", """fw-edge-01 rule set was pushed at 21:28 by the automated
                sync; checking whether it dropped the IKE rules for the two sites."""),
        ),
    ),
    incident(
        number="INC0010048", opened="2026-10-31 22:05", priority=4, state="new",
        group=_DESK, caller="alice.requester",
        short="Several keys sticking on laptop keyboard",
        description="E, R and space bar stick since coffee was spilled on Friday.",
    ),
)  # fmt: skip

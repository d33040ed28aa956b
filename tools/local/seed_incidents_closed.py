"""Seeded incident history, August to October 2026: closed incidents with their resolutions."""

from __future__ import annotations

from tools.local.seed_records import incident
from tools.models import Incident

_PAY, _WEB, _WMS, _ERP = "Payments Platform", "Web Platform", "Warehouse Systems", "ERP Team"
_NET, _IAM, _DBA, _DESK = "Network Operations", "Identity & Access", "Database Operations", "Service Desk"
_CLOSED = "closed"

CLOSED_INCIDENTS: tuple[Incident, ...] = (
    incident(
        number="INC0010001", opened="2026-08-24 07:12", priority=2, state=_CLOSED,
        service="vpn-gateway", ci="vpn-gw-01", group=_NET, assignee="ivan.ops", caller="alice.requester",
        short="VPN disconnects every 10 minutes for Amsterdam office users",
        description="""VPN client drops the tunnel roughly every 10 minutes since this morning; reconnecting
            works. At least 12 users in the Amsterdam office affected, home users look fine.""",
        resolved=("2026-08-24 11:40", "Solution provided", """vpn-gw-01 was renegotiating IKE SAs every 600 s:
            the firmware update in CHG0030001 reset the SA lifetime to its default. Set the lifetime back to
            28800 s on vpn-gw-01 and vpn-gw-02 and cleared stale SAs; no drops in 2 h of monitoring. Added the
            setting to the firmware baseline so the next upgrade keeps it."""),
    ),
    incident(
        number="INC0010002", opened="2026-08-27 09:05", priority=3, state=_CLOSED,
        service="inventory-service", ci="wms-scanner-gateway", group=_WMS, assignee="carol.desk",
        caller="frank.warehouse",
        short="Handheld scanners at BER-2 show 'session expired' every few scans",
        description="""Pickers at BER-2 get logged out of the scanner app after 2-3 scans since the start of
            the early shift. AMS-1 not affected.""",
        resolved=("2026-08-27 11:25", "Solution provided", """Clock on the BER-2 scanner access points drifted
            ~7 min after the NTP server change, so scanner tokens were issued in the future and rejected.
            Pointed the APs at ntp.internal, forced a resync and re-logged all 34 handhelds. Confirmed with
            the shift lead at 11:20."""),
    ),
    incident(
        number="INC0010003", opened="2026-08-31 12:10", priority=1, state=_CLOSED,
        service="payments-api", ci="payments-db", group=_PAY, assignee="dave.incident", caller="carol.desk",
        short="Card payments failing at checkout: payments-api returning 500s",
        description="""Checkout error rate jumped to ~35% at 12:05 UTC; payments-api logs show 'could not
            obtain connection' from payments-db. Customer care reports failed card payments in all
            markets.""",
        resolved=("2026-08-31 12:52", "Solution provided", """payments-db primary hit max_connections (500)
            after a reporting job opened ~300 idle connections. Killed the job's sessions at 12:41; error rate
            back to baseline by 12:44. Reporting job moved to a read replica (CHG0030002) and the reporting
            role limited to 20 connections. Problem record raised to review connection limits for every batch
            user."""),
        notes=(
            ("dave.incident", "2026-08-31 12:20", """Bridge open. payments-db at 500/500 connections, most of
                them idle sessions of role 'reporting'."""),
            ("dave.incident", "2026-08-31 12:45", """Killed reporting sessions at 12:41, errors dropping.
                Watching for 15 min before resolving."""),
        ),
    ),
    incident(
        number="INC0010004", opened="2026-09-02 10:48", priority=4, state=_CLOSED,
        group=_DESK, assignee="carol.desk", caller="alice.requester",
        short="Calendar not syncing on mobile phone",
        description="Meetings accepted on the laptop do not show up on my phone since Monday.",
        resolved=("2026-09-02 15:10", "Resolved by caller", """Caller removed and re-added the mail account on
            the phone as described in KB0010043; calendar syncs again. Confirmed by the caller by email."""),
    ),
    incident(
        number="INC0010005", opened="2026-09-04 08:03", priority=2, state=_CLOSED,
        service="erp-core", ci="erp-db", group=_ERP, assignee="ivan.ops", caller="grace.procure",
        short="ERP purchase order approval screen times out",
        description="""Approving purchase orders in ERP takes over 60 s and then fails with a gateway timeout.
            Started this morning; the whole procurement team is affected.""",
        resolved=("2026-09-04 10:05", "Solution provided", """Index on po_approval_history was missing after
            Sunday's ERP patch (the migration dropped and recreated the table). Recreated
            idx_po_approval_history_po_id on erp-db at 09:52; the approval screen loads in 1.2 s. Raised with
            the vendor to fix their migration script."""),
    ),
    incident(
        number="INC0010006", opened="2026-09-07 16:30", priority=3, state=_CLOSED,
        service="checkout-web", ci="web-app-02", group=_WEB, assignee="ivan.ops", caller="carol.desk",
        short="Product images missing on the checkout page for some customers",
        description="""Customers report broken images in the basket and on the checkout page. Looks like it
            only happens on some page loads.""",
        resolved=("2026-09-07 17:45", "Solution provided", """web-app-02 served a stale asset manifest after
            the 15:50 deploy; the deploy skipped the cache purge on that node. Purged the CDN and local cache
            on web-app-02 and images load. Added the purge as a post-deploy step for every node."""),
    ),
    incident(
        number="INC0010007", opened="2026-09-09 11:15", priority=4, state=_CLOSED,
        service="identity-sso", ci="sso-app-01", group=_IAM, assignee="carol.desk", caller="heidi.finance",
        short="MFA push notifications arrive 1-2 minutes late",
        description="Push prompts for sign-in take up to two minutes to arrive, sign-in often times out.",
        resolved=("2026-09-09 13:20", "Known error", """Delay was on the push provider's side (incident on
            their status page). Nothing to change on our side; told the caller to use the TOTP code from the
            app meanwhile. Provider closed their incident at 13:05."""),
    ),
    incident(
        number="INC0010008", opened="2026-09-11 04:40", priority=2, state=_CLOSED,
        service="inventory-service", ci="inventory-db", group=_WMS, assignee="dave.incident",
        caller="ken.warehouse2",
        short="Stock levels not updating after goods receipt at WAW-1",
        description="""Goods receipts posted since 03:30 at WAW-1 are not visible in inventory-service;
            pickers cannot find the received pallets.""",
        resolved=("2026-09-11 06:20", "Solution provided", """Goods-receipt consumer from the ERP queue to
            inventory-db crashed on a receipt whose unit 'pallet' was missing from the unit table. Added the
            unit and replayed 418 queued messages; stock correct at 06:12. The consumer now dead-letters
            unknown units instead of stopping."""),
    ),
    incident(
        number="INC0010009", opened="2026-09-14 13:00", priority=3, state=_CLOSED,
        service="vpn-gateway", ci="fw-edge-01", group=_NET, assignee="ivan.ops", caller="judy.cio",
        short="Cannot reach ERP over VPN from hotel Wi-Fi",
        description="""VPN client stays on 'connecting' at the hotel; ERP unreachable. Need it for a 15:00
            call.""",
        resolved=("2026-09-14 13:35", "User error", """Caller was on the hotel guest network without having
            logged in to its captive portal, so the tunnel never came up. Walked through the portal login; VPN
            and ERP work."""),
    ),
    incident(
        number="INC0010010", opened="2026-09-16 09:20", priority=3, state=_CLOSED,
        service="payments-api-staging", ci="pay-app-stg-01", group=_PAY, assignee="ivan.ops",
        caller="erin.change",
        short="payments-api-staging returns 503 after certificate rotation",
        description="""Since this morning's certificate rotation every call to payments-api-staging fails with
            503; the load test for the 2.15 release is blocked.""",
        resolved=("2026-09-16 11:05", "Resolved by change", """The new intermediate certificate was missing
            from the staging trust bundle. CHG0030003 deployed the full chain to pay-app-stg-01; health check
            green at 11:02."""),
    ),
    incident(
        number="INC0010011", opened="2026-09-18 17:45", priority=2, state=_CLOSED,
        service="checkout-web", ci="lb-prod-01", group=_WEB, assignee="dave.incident", caller="carol.desk",
        short="Intermittent 504s on checkout-web during evening peak",
        description="""Customers see 'gateway timeout' on checkout now and then since about 17:30, ~1% of
            requests.""",
        resolved=("2026-09-18 20:10", "Solution provided", """lb-prod-01 idle timeout (30 s) was shorter than
            the keep-alive on web-app-01/02 (60 s), so the load balancer reused connections the backends had
            already closed. Set the backend keep-alive to 25 s on both nodes; 504 rate fell from 0.8% to 0.01%
            through the rest of the peak."""),
    ),
    incident(
        number="INC0010012", opened="2026-09-21 08:10", priority=4, state=_CLOSED,
        service="inventory-service", ci="label-print-agent", group=_WMS, assignee="carol.desk",
        caller="frank.warehouse",
        short="Label printer at AMS-1 dock 3 prints blank labels",
        description="""Dock 3 label printer feeds labels but nothing is printed on them since the ribbon
            change.""",
        resolved=("2026-09-21 09:30", "Solution provided", """Thermal ribbon was fitted inside-out after the
            replacement. Refitted the ribbon, calibrated the media sensor, 20 test labels fine. Shared the
            fitting guide with the dock team."""),
    ),
    incident(
        number="INC0010013", opened="2026-09-23 08:00", priority=3, state=_CLOSED,
        service="erp-core", ci="erp-batch-scheduler", group=_ERP, assignee="ivan.ops", caller="heidi.finance",
        short="Nightly cost-centre report missing from the finance share",
        description="""The COST_CC report that should be in the finance share every morning is not there
            today.""",
        resolved=("2026-09-23 08:50", "Solution provided", """Job COST_CC_NIGHTLY failed at 02:00 because the
            share's service account password expired on 22 Sep. Rotated the password in the vault and re-ran
            the job at 08:40; report delivered. Added expiry monitoring for the account."""),
    ),
    incident(
        number="INC0010014", opened="2026-09-25 17:22", priority=1, state=_CLOSED,
        service="identity-sso", ci="sso-app-01", group=_IAM, assignee="dave.incident", caller="ivan.ops",
        short="Nobody can log in: SSO returns 'invalid_grant'",
        description="""All staff apps reject logins with 'invalid_grant' since ~17:00. Existing sessions still
            work. Service desk phones are flooded.""",
        resolved=("2026-09-25 18:05", "Resolved by change", """Scheduled signing-key rotation ran at 17:00 but
            sso-app-01 kept serving the old JWKS from cache, so every relying party rejected new tokens.
            Emergency change CHG0030005 flushed the JWKS cache and restarted sso-app-01 at 17:58; logins
            working at 18:01. The rotation job now invalidates the cache itself."""),
        notes=(
            ("dave.incident", "2026-09-25 17:35", """Tokens signed with kid 2026-09 but JWKS endpoint still
                publishes kid 2026-06 only."""),
            ("erin.change", "2026-09-25 17:50", """Emergency change CHG0030005 approved for the cache flush
                and restart."""),
        ),
    ),
    incident(
        number="INC0010015", opened="2026-09-28 09:30", priority=3, state=_CLOSED,
        service="vpn-gateway", ci="vpn-gw-02", group=_NET, assignee="ivan.ops", caller="bob.requester",
        short="VPN very slow for Madrid users",
        description="""Everyone in MAD-1 says the VPN is crawling since last week; file copies to the AMS
            share run at ~1 MB/s.""",
        resolved=("2026-09-28 12:15", "Workaround provided", """vpn-gw-02 was saturated (940 of 1000 Mbit/s)
            because all Madrid clients were pinned to it. Moved MAD-1 users to the balanced vpn-gateway pool
            so they spread across vpn-gw-01/02. Uplink upgrade requested in CHG0030006."""),
    ),
    incident(
        number="INC0010016", opened="2026-09-30 05:55", priority=2, state=_CLOSED,
        service="erp-core", ci="erp-app-01", group=_ERP, assignee="dave.incident", caller="leo.procure2",
        short="ERP unavailable: login page shows HTTP 502",
        description="ERP login page returns 502 Bad Gateway for everyone since at least 05:45.",
        resolved=("2026-09-30 06:40", "Solution provided", """erp-app-01 ran out of disk (/var/log at 100%)
            because debug logging had been left on since Friday. Rotated and compressed the logs (38 GB freed)
            and restarted the app server at 06:31. Debug logging off; disk alert threshold lowered from 95% to
            85%."""),
    ),
    incident(
        number="INC0010017", opened="2026-10-02 11:10", priority=3, state=_CLOSED,
        service="inventory-service", ci="inv-app-01", group=_WMS, assignee="carol.desk",
        caller="ken.warehouse2",
        short="Transfers from WAW-1 to BER-2 stuck 'in transit'",
        description="""Six transfers sent on Tuesday still show 'in transit'; BER-2 received the goods
            yesterday.""",
        resolved=("2026-10-02 14:00", "Solution provided", """Receiving at BER-2 failed silently because the
            transfers used a retired bin (BER2-B-14). Mapped the bin to its replacement and re-posted the 6
            transfers; all received. Asked Warehouse Systems to block retired bins on new transfers."""),
    ),
    incident(
        number="INC0010018", opened="2026-10-05 08:25", priority=4, state=_CLOSED,
        group=_DESK, assignee="carol.desk", caller="alice.requester",
        short="Docking station does not detect external monitors",
        description="""New USB-C dock (DOCK-USBC-90W): laptop charges but neither monitor wakes up. Tried
            other cables.""",
        resolved=("2026-10-05 10:10", "Solution provided", """Dock firmware 1.0.9 has a known DisplayPort MST
            issue. Updated to 1.1.2 with the vendor tool; both monitors detected."""),
    ),
    incident(
        number="INC0010019", opened="2026-10-07 07:00", priority=2, state=_CLOSED,
        service="payments-api", ci="pay-app-01", group=_PAY, assignee="dave.incident", caller="carol.desk",
        short="Refund requests timing out in payments-api",
        description="""Customer care cannot issue refunds: the back office shows a timeout after 30 s.
            Payments themselves work.""",
        resolved=("2026-10-07 09:30", "Resolved by problem", """Same root cause as PRB0040021: refund calls to
            the acquirer block on a 30 s TLS handshake when the acquirer's OCSP responder is slow. Applied the
            problem's fix (OCSP stapling, 5 s handshake timeout) on pay-app-01 and pay-app-02; refunds back
            under 800 ms."""),
    ),
    incident(
        number="INC0010020", opened="2026-10-09 12:40", priority=3, state=_CLOSED,
        service="checkout-web-staging", ci="web-app-stg-01", group=_WEB, assignee="ivan.ops",
        caller="erin.change",
        short="Staging checkout shows production prices",
        description="Prices in checkout-web-staging match prod, not the staging price list used for tests.",
        resolved=("2026-10-09 14:15", "Solution provided", """web-app-stg-01 had PRICE_API_URL pointing at
            prod after its environment file was copied from prod for the load test. Restored the staging file
            from git and redeployed; prices correct. Environment files are now rendered from per-environment
            templates."""),
    ),
    incident(
        number="INC0010021", opened="2026-10-12 08:20", priority=4, state=_CLOSED,
        group=_DESK, assignee="carol.desk", caller="judy.cio",
        short="Meeting room display in LON-1 shows 'no signal'",
        description="""Board room screen in London shows 'no signal' with the laptop connected; meeting at
            10:00.""",
        resolved=("2026-10-12 08:45", "Resolved by caller", """HDMI cable had been unplugged at the wall plate
            by the cleaners; caller plugged it back in before we arrived."""),
    ),
    incident(
        number="INC0010022", opened="2026-10-13 14:05", priority=3, state=_CLOSED,
        service="inventory-service", ci="inventory-db", group=_DBA, assignee="ivan.ops",
        caller="frank.warehouse",
        short="Inventory search takes more than 10 seconds",
        description="Item search in the warehouse app takes 10-20 s since last week; scanning is fine.",
        resolved=("2026-10-13 17:30", "Solution provided", """Autovacuum had not run on stock_movements since
            the 5 Oct bulk import (6x table bloat). Ran VACUUM ANALYZE in the 17:00 low-traffic window; search
            back to 300 ms. Lowered the autovacuum thresholds for that table."""),
    ),
    incident(
        number="INC0010023", opened="2026-10-15 09:50", priority=2, state=_CLOSED,
        service="identity-sso", ci="sso-db", group=_IAM, assignee="dave.incident", caller="carol.desk",
        short="SSO logins slow, some fail with a timeout",
        description="Since ~09:40 logins take 20-30 s and about a third time out. Reported by several teams.",
        resolved=("2026-10-15 10:25", "Solution provided", """sso-db failed over to its replica at 09:41 after
            a storage controller error, but sso-app-01 kept its pool pointed at the old primary's IP.
            Restarted sso-app-01 with the cluster DNS name instead of the IP at 10:20; logins normal. Storage
            fault handed to the hosting provider (case 88213)."""),
    ),
    incident(
        number="INC0010024", opened="2026-10-15 09:56", priority=3, state=_CLOSED,
        service="identity-sso", ci="sso-app-01", group=_DESK, assignee="carol.desk", caller="heidi.finance",
        short="Cannot log in to the expense tool, page keeps loading",
        description="Expense tool login spins forever.",
        resolved=("2026-10-15 10:30", "Duplicate", """Duplicate of INC0010023 (SSO database failover). Caller
            informed; logged in fine after 10:20."""),
    ),
    incident(
        number="INC0010025", opened="2026-10-16 09:30", priority=3, state=_CLOSED,
        service="erp-core", ci="erp-app-01", group=_ERP, assignee="ivan.ops", caller="grace.procure",
        short="Supplier SUP-009 missing from ERP vendor search",
        description="Baltic Print Consumables no longer shows up when I search vendors in ERP.",
        resolved=("2026-10-16 10:05", "User error", """SUP-009 was set inactive by the quarterly vendor review
            (no orders in 12 months) and vendor search hides inactive suppliers by default. Showed the
            'include inactive' filter; reactivation needs a vendor review request."""),
    ),
    incident(
        number="INC0010026", opened="2026-10-19 05:45", priority=2, state=_CLOSED,
        service="inventory-service", ci="wms-scanner-gateway", group=_WMS, assignee="dave.incident",
        caller="ken.warehouse2",
        short="All handheld scanners at WAW-1 offline",
        description="""No scanner at WAW-1 can connect since the start of the early shift; picking has
            stopped.""",
        resolved=("2026-10-19 06:25", "Solution provided", """wms-scanner-gateway's TLS certificate expired at
            05:30, so scanners refused the connection. Renewed the certificate and restarted the gateway at
            06:15; scanners reconnected within 2 min. Certificate moved to automatic renewal."""),
    ),
    incident(
        number="INC0010027", opened="2026-10-21 10:10", priority=4, state=_CLOSED,
        group=_DESK, assignee="carol.desk", caller="bob.requester",
        short="New starter laptop not enrolled in device management",
        description="New colleague's laptop says it is not managed and cannot open the intranet.",
        resolved=("2026-10-21 11:00", "Solution provided", """Laptop shipped from BER-2 before its enrolment
            profile was assigned. Assigned the profile and had the user re-run setup; device compliant."""),
    ),
    incident(
        number="INC0010028", opened="2026-10-22 13:00", priority=3, state=_CLOSED,
        service="payments-api", ci="pay-app-02", group=_PAY, assignee="ivan.ops", caller="dave.incident",
        short="pay-app-02 memory usage climbing ~2% per hour",
        description="Monitoring: heap on pay-app-02 grows steadily since the webhook retry change; 81% now.",
        resolved=("2026-10-22 15:05", "Workaround provided", """Heap grows with every webhook retry because a
            listener is never removed. Rolling restart of pay-app-02 at 14:10 as a workaround; the fix ships
            in payments-api v2.15.0 (CHG0030011)."""),
    ),
    incident(
        number="INC0010029", opened="2026-10-23 06:40", priority=3, state=_CLOSED,
        service="erp-core-staging", ci="erp-db-staging", group=_ERP, assignee="ivan.ops",
        caller="leo.procure2",
        short="ERP staging refresh failed: test users cannot log in",
        description="""After last night's refresh none of the procurement test users can log in to ERP
            staging.""",
        resolved=("2026-10-23 08:30", "Solution provided", """Masked prod copy restored fine, but the
            post-refresh script that recreates test users failed on a renamed role. Fixed the script and
            re-ran it; 25 test users active."""),
    ),
)  # fmt: skip

"""Seeded change requests, August to October 2026, in every state of the change process."""

from __future__ import annotations

from tools.local.seed_records import SeedChange, change

SEED_CHANGES: tuple[SeedChange, ...] = (
    change(
        number="CHG0030001", created="2026-08-17 09:00", state="implemented", risk="moderate",
        ci="vpn-gateway", requested_by="erin.change", planned=("2026-08-22 20:00", "2026-08-22 21:30"),
        short="Patch vpn-gw-01 and vpn-gw-02 firmware to 10.2.9",
        description="""Vendor security advisory for IKEv2 fragmentation. Upgrade the secondary first, fail
            over, then upgrade the primary. Rollback: boot the previous image from the alternate
            partition.""",
    ),
    change(
        number="CHG0030002", created="2026-09-01 10:30", state="implemented", risk="moderate",
        ci="payments-db", requested_by="dave.incident", planned=("2026-09-05 18:00", "2026-09-05 21:00"),
        short="Add a read replica to payments-db for reporting workloads",
        description="""Follow-up of INC0010003. Create a streaming replica, move the reporting role and the
            finance reports to it, and limit the reporting role to 20 connections on the primary.""",
    ),
    change(
        number="CHG0030003", created="2026-09-16 09:50", state="implemented", risk="low",
        ci="pay-app-stg-01", requested_by="erin.change", planned=("2026-09-16 10:30", "2026-09-16 11:00"),
        short="Deploy the full certificate chain to pay-app-stg-01",
        description="Fix for INC0010010: add the new intermediate to the staging trust bundle and reload.",
    ),
    change(
        number="CHG0030004", created="2026-09-20 14:00", state="implemented", risk="low",
        ci="inventory-db-staging", requested_by="ivan.ops", planned=("2026-09-24 07:00", "2026-09-24 09:00"),
        short="Upgrade inventory-db-staging to PostgreSQL 16.4",
        description="""Rehearsal for the production upgrade: pg_upgrade in link mode, then run the inventory
            regression suite and the nightly import.""",
    ),
    change(
        number="CHG0030005", created="2026-09-25 17:45", state="implemented", risk="high",
        ci="sso-app-01", requested_by="dave.incident", planned=("2026-09-25 17:50", "2026-09-25 18:05"),
        short="Emergency: flush JWKS cache and restart sso-app-01",
        description="""Emergency change for P1 INC0010014. Flush the JWKS cache and restart sso-app-01 so the
            rotated signing key is published. All logins interrupted for ~2 minutes.""",
    ),
    change(
        number="CHG0030006", created="2026-09-28 12:30", state="scheduled", risk="moderate",
        ci="vpn-gw-02", requested_by="erin.change", planned=("2026-11-07 20:00", "2026-11-07 22:00"),
        short="Upgrade vpn-gw-02 uplink from 1 to 10 Gbit/s",
        description="""Capacity for Madrid users (INC0010015). Swap the SFP to 10G-SR, move the uplink to the
            new core switch port and re-balance the VPN pool. Remote users on vpn-gw-02 reconnect once.""",
    ),
    change(
        number="CHG0030007", created="2026-10-05 11:00", state="implemented", risk="moderate",
        ci="lb-prod-01", requested_by="erin.change", planned=("2026-10-08 21:00", "2026-10-08 21:30"),
        short="Rotate TLS certificates on lb-prod-01",
        description="Annual certificate renewal for the shop domains; new certificates already validated.",
    ),
    change(
        number="CHG0030008", created="2026-10-08 09:15", state="cancelled", risk="moderate",
        ci="inventory-db", requested_by="ivan.ops", planned=("2026-10-25 05:00", "2026-10-25 08:00"),
        short="Upgrade inventory-db to PostgreSQL 16.4",
        description="""Production upgrade after the staging rehearsal CHG0030004. Cancelled: postponed until
            after the peak season freeze (mid-January).""",
    ),
    change(
        number="CHG0030009", created="2026-10-14 16:20", state="draft", risk="low",
        ci="erp-batch-scheduler", requested_by="grace.procure",
        short="Move the ERP nightly batch window from 02:00 to 03:30",
        description="""Avoid overlap with the payments-db backup window. Needs sign-off from finance because
            the cost-centre report arrives 90 minutes later.""",
    ),
    change(
        number="CHG0030010", created="2026-10-20 10:00", state="assess", risk="high",
        ci="core-switch-ams-01", requested_by="erin.change", planned=("2026-11-14 22:00", "2026-11-15 02:00"),
        short="Replace line card 3 in core-switch-ams-01",
        description="""Line card 3 logs correctable memory errors. Replacement needs all hosts on that card to
            fail over; pay-app-02 and web-app-02 lose their primary link for ~20 minutes.""",
    ),
    change(
        number="CHG0030011", created="2026-10-22 14:30", state="implemented", risk="moderate",
        ci="payments-api", requested_by="dave.incident", planned=("2026-10-26 20:00", "2026-10-26 21:00"),
        short="Deploy payments-api v2.15.0 to production",
        description="""Release 2.15.0: webhook retry backoff, fix for the listener leak seen in INC0010028.
            Rolling deploy, one node at a time. Rollback: redeploy v2.14.3.""",
    ),
    change(
        number="CHG0030012", created="2026-10-26 16:00", state="implemented", risk="low",
        ci="payments-api", requested_by="ivan.ops", planned=("2026-10-27 13:00", "2026-10-27 13:15"),
        short="Reduce payments-api DB pool size to 10 per node",
        description="""Free connections on payments-db for the new replica's reporting load by reducing the
            payments-api pool from 50 to 10 per node. Config only, no restart needed.""",
    ),
    change(
        number="CHG0030013", created="2026-10-29 09:00", state="assess", risk="moderate",
        ci="payments-api", requested_by="dave.incident", planned=("2026-11-03 20:00", "2026-11-03 21:00"),
        short="Re-deploy payments-api v2.15.1 with a pool of 40 per node",
        description="""Follow-up of P1 INC0010032. v2.15.1 releases the DB connection between webhook retries;
            pool set to 40 per node. Load tested on payments-api-staging.""",
    ),
    change(
        number="CHG0030014", created="2026-10-30 10:40", state="draft", risk="low",
        ci="payments-api-staging", requested_by="ivan.ops",
        short="Restart payments-api-staging nightly until 2.15.1 is out",
        description="Workaround for heap growth on staging while the load tests run.",
    ),
    change(
        number="CHG0030015", created="2026-10-31 08:30", state="scheduled", risk="moderate",
        ci="erp-db", requested_by="dave.incident", planned=("2026-11-01 05:00", "2026-11-01 05:30"),
        short="Increase erp-db work_mem for the month-end posting batch",
        description="""From INC0010037: raise work_mem for the posting batch user only, so sorts stop spilling
            to disk. Parameter change, no restart.""",
    ),
)  # fmt: skip

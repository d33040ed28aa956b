"""Seeded people and CMDB: the same user ids are used by the directory, policy and every system."""

from __future__ import annotations

from tools.models import ConfigurationItem

SEED_USERS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("alice.requester", "Alice Jansen", ("requester",)),
    ("bob.requester", "Bob Schneider", ("requester",)),
    ("carol.desk", "Carol Nowak", ("service_desk",)),
    ("dave.incident", "Dave O'Connor", ("incident_manager",)),
    ("erin.change", "Erin Martínez", ("change_manager",)),
    ("frank.warehouse", "Frank de Vries", ("warehouse_manager",)),
    ("grace.procure", "Grace Kowalska", ("procurement_manager",)),
    ("heidi.finance", "Heidi Müller", ("finance_controller",)),
    ("ivan.ops", "Ivan Petrov", ("service_desk", "requester")),
    ("judy.cio", "Judy Okafor", ("requester",)),
    ("ken.warehouse2", "Ken Lindqvist", ("warehouse_manager",)),
    ("leo.procure2", "Leo García", ("procurement_manager",)),
)
"""(user id, display name, roles) of everyone the demo systems know."""

SEED_MANAGERS: dict[str, str | None] = {
    "alice.requester": "grace.procure",
    "bob.requester": "grace.procure",
    "carol.desk": "dave.incident",
    "ivan.ops": "dave.incident",
    "dave.incident": "judy.cio",
    "erin.change": "judy.cio",
    "frank.warehouse": "judy.cio",
    "grace.procure": "judy.cio",
    "heidi.finance": "judy.cio",
    "ken.warehouse2": "judy.cio",
    "leo.procure2": "judy.cio",
    "judy.cio": None,
}
"""Each seeded user's manager (``None`` for the CIO)."""

_PAY, _WEB, _WMS, _ERP = "Payments Platform", "Web Platform", "Warehouse Systems", "ERP Team"
_NET, _IAM, _DBA = "Network Operations", "Identity & Access", "Database Operations"


def _ci(
    name: str, ci_class: str, environment: str, owner: str, group: str, description: str, *depends_on: str
) -> ConfigurationItem:
    return ConfigurationItem.model_validate(
        {
            "name": name,
            "ci_class": ci_class,
            "environment": environment,
            "owner": owner,
            "support_group": group,
            "description": description,
            "depends_on": depends_on,
        }
    )


_P, _S = "prod", "staging"

SEED_CIS: tuple[ConfigurationItem, ...] = (
    # services
    _ci("payments-api", "service", _P, "dave.incident", _PAY,
        "Card and wallet payments, refunds and payment webhooks",
        "pay-app-01", "pay-app-02", "payments-db", "identity-sso"),
    _ci("checkout-web", "service", _P, "ivan.ops", _WEB, "Customer-facing web shop checkout",
        "web-app-01", "web-app-02", "lb-prod-01", "payments-api", "inventory-service"),
    _ci("inventory-service", "service", _P, "frank.warehouse", _WMS,
        "Stock levels, reservations and transfers for all warehouses", "inv-app-01", "inventory-db"),
    _ci("erp-core", "service", _P, "grace.procure", _ERP, "ERP: purchasing, finance, goods receipt",
        "erp-app-01", "erp-db"),
    _ci("vpn-gateway", "service", _P, "erin.change", _NET, "Remote access VPN for staff and warehouse sites",
        "vpn-gw-01", "vpn-gw-02", "fw-edge-01", "identity-sso"),
    _ci("identity-sso", "service", _P, "dave.incident", _IAM,
        "Single sign-on (SAML/OIDC) and MFA for all staff apps", "sso-app-01", "sso-db"),
    _ci("payments-api-staging", "service", _S, "dave.incident", _PAY,
        "Staging copy of payments-api (acquirer sandbox)",
        "pay-app-stg-01", "payments-db-staging", "identity-sso-staging"),
    _ci("checkout-web-staging", "service", _S, "ivan.ops", _WEB,
        "Staging web shop checkout, used for load tests",
        "web-app-stg-01", "lb-staging-01", "payments-api-staging", "inventory-service-staging"),
    _ci("inventory-service-staging", "service", _S, "frank.warehouse", _WMS, "Staging inventory service",
        "inv-app-stg-01", "inventory-db-staging"),
    _ci("erp-core-staging", "service", _S, "grace.procure", _ERP,
        "ERP test system, refreshed monthly from masked prod", "erp-app-stg-01", "erp-db-staging"),
    _ci("vpn-gateway-staging", "service", _S, "erin.change", _NET, "Lab VPN used to test gateway firmware",
        "vpn-gw-stg-01", "identity-sso-staging"),
    _ci("identity-sso-staging", "service", _S, "dave.incident", _IAM, "Staging SSO tenant", "sso-app-stg-01"),
    # hosts
    _ci("pay-app-01", "host", _P, "dave.incident", _PAY, "payments-api node 1", "core-switch-ams-01"),
    _ci("pay-app-02", "host", _P, "dave.incident", _PAY, "payments-api node 2", "core-switch-ams-01"),
    _ci("web-app-01", "host", _P, "ivan.ops", _WEB, "checkout-web node 1", "core-switch-ams-01"),
    _ci("web-app-02", "host", _P, "ivan.ops", _WEB, "checkout-web node 2", "core-switch-ams-01"),
    _ci("inv-app-01", "host", _P, "ivan.ops", _WMS, "inventory-service app server", "core-switch-ams-01"),
    _ci("erp-app-01", "host", _P, "ivan.ops", _ERP, "ERP application server", "core-switch-ams-01"),
    _ci("vpn-gw-01", "host", _P, "erin.change", _NET, "VPN gateway appliance, primary", "fw-edge-01"),
    _ci("vpn-gw-02", "host", _P, "erin.change", _NET, "VPN gateway appliance, secondary", "fw-edge-01"),
    _ci("sso-app-01", "host", _P, "dave.incident", _IAM, "SSO application server", "core-switch-ams-01"),
    _ci("pay-app-stg-01", "host", _S, "dave.incident", _PAY, "payments-api staging node"),
    _ci("web-app-stg-01", "host", _S, "ivan.ops", _WEB, "checkout-web staging node"),
    _ci("inv-app-stg-01", "host", _S, "ivan.ops", _WMS, "inventory-service staging node"),
    _ci("erp-app-stg-01", "host", _S, "ivan.ops", _ERP, "ERP staging application server"),
    _ci("vpn-gw-stg-01", "host", _S, "erin.change", _NET, "Lab VPN gateway appliance"),
    _ci("sso-app-stg-01", "host", _S, "dave.incident", _IAM, "SSO staging application server"),
    # databases
    _ci("payments-db", "database", _P, "dave.incident", _DBA,
        "PostgreSQL 15 primary with one read replica for reports"),
    _ci("payments-db-staging", "database", _S, "dave.incident", _DBA, "PostgreSQL 15, payments staging"),
    _ci("inventory-db", "database", _P, "ivan.ops", _DBA, "PostgreSQL 15, stock and movements"),
    _ci("inventory-db-staging", "database", _S, "ivan.ops", _DBA, "PostgreSQL 16.4, inventory staging"),
    _ci("erp-db", "database", _P, "grace.procure", _DBA, "ERP database (Oracle 19c)"),
    _ci("erp-db-staging", "database", _S, "grace.procure", _DBA, "ERP test database, masked prod copy"),
    _ci("sso-db", "database", _P, "dave.incident", _DBA, "SSO sessions and key store, two-node cluster"),
    # network
    _ci("core-switch-ams-01", "network", _P, "erin.change", _NET, "Core switch, Amsterdam data centre"),
    _ci("fw-edge-01", "network", _P, "erin.change", _NET, "Edge firewall, Amsterdam data centre",
        "core-switch-ams-01"),
    _ci("lb-prod-01", "network", _P, "erin.change", _NET, "Production load balancer for web traffic",
        "fw-edge-01"),
    _ci("lb-staging-01", "network", _S, "erin.change", _NET, "Staging load balancer"),
    # applications
    _ci("wms-scanner-gateway", "application", _P, "frank.warehouse", _WMS,
        "Gateway between handheld scanners and inventory-service", "inventory-service", "inv-app-01"),
    _ci("label-print-agent", "application", _P, "frank.warehouse", _WMS,
        "Prints shipping labels on warehouse label printers", "inventory-service"),
    _ci("erp-batch-scheduler", "application", _P, "grace.procure", _ERP,
        "Nightly ERP batch jobs (reports, postings)", "erp-core"),
)  # fmt: skip
"""The seeded CMDB: six services in prod and staging, their hosts, databases and network."""

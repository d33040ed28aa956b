# ruff: noqa: E501 - case tables: long request texts and expectations read best on one line
"""Inventory cases: stock checks, reservations and transfers under and over their thresholds,
write-offs and cycle counts, reorder points, multi-step requests and requests that need a question."""

from __future__ import annotations

from typing import Any

from evals.suite.building import Seed, added, call, changed, expects, make, say, step, wrong

WAREHOUSE_CITY = {
    "AMS-1": "Amsterdam",
    "BER-2": "Berlin",
    "LON-1": "London",
    "MAD-1": "Madrid",
    "WAW-1": "Warsaw",
}


def cases(seed: Seed) -> list[dict[str, Any]]:
    return [
        *_stock_checks(seed),
        *_reservations(seed),
        *_transfers(seed),
        *_adjustments(seed),
        *_reorder_points(seed),
        *_multi_step(seed),
        *_clarifications(),
        *_by_city(seed),
    ]


def stock_row(seed: Seed, sku: str, warehouse: str, **delta: int) -> dict[str, Any]:
    now = seed.stock(sku, warehouse)
    assert now is not None, (sku, warehouse)
    return changed("stock", {"sku": sku, "warehouse": warehouse}, **{k: now[k] + v for k, v in delta.items()})


def _stock_checks(seed: Seed) -> list[dict[str, Any]]:
    out = []
    checks = [
        ("SSD-1TB-NVME", "AMS-1", "how many SSD-1TB-NVME in AMS-1?"),
        ("MON-22-FHD", "BER-2", "do we have MON-22-FHD in Berlin?"),
        ("LAP-14-PRO", "LON-1", "how many LAP-14-PRO are on hand in London?"),
        ("SCN-HH-2D", "MAD-1", "stock of SCN-HH-2D in Madrid"),
        ("MON-27-4K", "WAW-1", "how many MON-27-4K in WAW-1?"),
        ("DOCK-TB4-PRO", "AMS-1", "check stock of DOCK-TB4-PRO in Amsterdam"),
        ("RAM-64GB-DDR5-RD", "LON-1", "how many RAM-64GB-DDR5-RD do we have in LON-1?"),
        ("TAB-RUG-10", "BER-2", "do we have TAB-RUG-10 in BER-2?"),
    ]
    for n, (sku, warehouse, text) in enumerate(checks):
        row = seed.stock(sku, warehouse)
        if row is None:
            continue
        other = "LON-1" if warehouse != "LON-1" else "AMS-1"
        out.append(
            make(
                "inventory",
                f"stock-{sku.lower()}-{warehouse.lower()}",
                f"Stock of {sku} in {warehouse}",
                difficulty="easy",
                tags=["lookup", "stock"],
                actor="bob.requester",
                turns=[text],
                expect=expects(answer_contains=[f"{row['on_hand']} on hand"]),
                reference=[
                    step(call("inventory_get_stock", sku=sku, warehouse=warehouse)),
                    say(f"{sku} at {warehouse}: {row['on_hand']} on hand, {row['reserved']} reserved."),
                ],
                wrongs=[
                    wrong(
                        "reads-another-warehouse",
                        step(call("inventory_get_stock", sku=sku, warehouse=other)),
                        say(f"{sku} at {warehouse}: {row['on_hand'] + 7 + n} on hand."),
                    ),
                    wrong(
                        "reserves-instead-of-reading",
                        step(
                            call(
                                "inventory_reserve_stock",
                                sku=sku,
                                warehouse=warehouse,
                                quantity=1,
                                reference="stock check",
                            )
                        ),
                        say(f"{sku} at {warehouse}: {row['on_hand']} on hand."),
                    ),
                ],
            )
        )
    return out


def _reservations(seed: Seed) -> list[dict[str, Any]]:
    out = []
    items = [
        ("LAP-14-PRO", "AMS-1", 5, "REQ new starters week 45", None),
        ("MON-27-4K", "AMS-1", 12, "Desk refresh floor 3", None),
        ("SSD-1TB-NVME", "LON-1", 20, "Server rebuild batch 2", None),
        ("DOCK-TB4-PRO", "AMS-1", 8, "Hot desks Berlin project", None),
        ("SCN-HH-2D", "MAD-1", 30, "Peak season scanners", "approve"),
        ("MON-22-FHD", "AMS-1", 25, "Call centre expansion", "approve"),
        ("RAM-64GB-DDR5-RD", "MAD-1", 40, "Cluster memory upgrade", "reject"),
    ]
    for sku, warehouse, quantity, reference, verdict in items:
        big = verdict is not None
        tier = "approve" if big else "auto"
        approvals = []
        if big:
            entry: dict[str, Any] = {
                "tool": "inventory_reserve_stock",
                "match": {"quantity": quantity},
                "by": "frank.warehouse",
                "decision": verdict,
            }
            if verdict == "reject":
                entry["reason"] = "That would take every unit from the other teams; reserve 10 for now."
            approvals.append(entry)
        done = verdict in (None, "approve")
        out.append(
            make(
                "inventory",
                f"reserve-{quantity}-{sku.lower()}",
                f"Reserve {quantity} {sku} at {warehouse} ({tier}{', rejected' if verdict == 'reject' else ''})",
                difficulty="easy" if not big else ("medium" if done else "hard"),
                tags=["reservation", tier, *([verdict] if verdict else [])],
                actor="bob.requester",
                turns=[f"reserve {quantity} {sku} at {warehouse} for '{reference}'"],
                approvals=approvals,
                expect=expects(
                    state=[
                        added(
                            "reservations",
                            sku=sku,
                            warehouse=warehouse,
                            quantity=quantity,
                            reference=reference,
                        ),
                        stock_row(seed, sku, warehouse, reserved=quantity),
                    ]
                    if done
                    else [],
                    calls=[
                        {
                            "tool": "inventory_reserve_stock",
                            "tier": tier,
                            "status": "completed" if done else "rejected",
                            **({"approvers": ["frank.warehouse"]} if big else {}),
                        }
                    ],
                    answer_contains=[sku] if done else ["reserve 10"],
                ),
                reference=[
                    step(
                        call(
                            "inventory_reserve_stock",
                            sku=sku,
                            warehouse=warehouse,
                            quantity=quantity,
                            reference=reference,
                        )
                    ),
                    say(
                        f"Reserved {quantity} {sku} at {warehouse}."
                        if done
                        else "frank.warehouse rejected it: reserve 10 for now, the rest stays for other teams."
                    ),
                ],
                wrongs=[
                    wrong(
                        "wrong-quantity",
                        step(
                            call(
                                "inventory_reserve_stock",
                                sku=sku,
                                warehouse=warehouse,
                                quantity=quantity + 1,
                                reference=reference,
                            )
                        ),
                        say(f"Reserved {quantity} {sku} at {warehouse}; reserve 10 noted."),
                    )
                ],
            )
        )
    return out


def _transfer(seed: Seed, sku: str, source: str, target: str, quantity: int, reason: str) -> list[Any]:
    state = [
        added("transfers", sku=sku, from_warehouse=source, to_warehouse=target, quantity=quantity),
        stock_row(seed, sku, source, on_hand=-quantity),
    ]
    if seed.stock(sku, target) is None:
        state.append(added("stock", sku=sku, warehouse=target, on_hand=quantity))
    else:
        state.append(stock_row(seed, sku, target, on_hand=quantity))
    return state


def _transfers(seed: Seed) -> list[dict[str, Any]]:
    out = []
    moves = [
        ("SSD-1TB-NVME", "AMS-1", "BER-2", 10, None),
        ("MON-22-FHD", "AMS-1", "MAD-1", 15, None),
        ("SCN-HH-2D", "MAD-1", "LON-1", 12, None),
        ("DOCK-TB4-PRO", "AMS-1", "BER-2", 6, None),
        ("RAM-64GB-DDR5-RD", "MAD-1", "AMS-1", 20, None),
        ("LAP-14-PRO", "AMS-1", "BER-2", 8, "approve"),  # 8 x 1450 = 11,600: over 10,000 in value
        ("CBL-USBC-2M", "AMS-1", "BER-2", 60, "approve"),  # over 50 units
        ("TAB-RUG-10", "BER-2", "MAD-1", 13, "approve"),  # 10,387 in value
        ("LAP-14-PRO", "AMS-1", "WAW-1", 9, "reject"),
    ]
    for sku, source, target, quantity, verdict in moves:
        value = quantity * seed.unit_cost(sku)
        big = verdict is not None
        assert big == (quantity > 50 or value > 10000), (sku, quantity, value)
        tier = "approve" if big else "auto"
        done = verdict != "reject"
        reason = f"Rebalance {WAREHOUSE_CITY[target]} stock for next week's demand"
        approvals = []
        if big:
            entry: dict[str, Any] = {
                "tool": "inventory_transfer_stock",
                "match": {"quantity": quantity},
                "by": "frank.warehouse",
                "decision": verdict,
            }
            if not done:
                entry["reason"] = "WAW-1 has no secure cage for laptops yet; ship them to BER-2 instead."
            approvals.append(entry)
        args = {
            "sku": sku,
            "from_warehouse": source,
            "to_warehouse": target,
            "quantity": quantity,
            "reason": reason,
        }
        out.append(
            make(
                "inventory",
                f"transfer-{quantity}-{sku.lower()}-{source.lower()}-{target.lower()}",
                f"Move {quantity} {sku} {source} → {target} ({tier}{', rejected' if not done else ''})",
                difficulty="medium" if big else "easy",
                tags=["transfer", tier, *([verdict] if verdict else [])],
                actor="bob.requester",
                turns=[
                    f"move {quantity} {sku} from {source} to {target} because we need them there next week"
                ],
                approvals=approvals,
                expect=expects(
                    state=_transfer(seed, sku, source, target, quantity, reason) if done else [],
                    calls=[
                        {
                            "tool": "inventory_transfer_stock",
                            "tier": tier,
                            "status": "completed" if done else "rejected",
                            **({"approvers": ["frank.warehouse"]} if big else {}),
                        }
                    ],
                    answer_contains=[target] if done else ["secure cage"],
                ),
                reference=[
                    step(call("inventory_transfer_stock", **args)),
                    say(
                        f"Moved {quantity} {sku} from {source} to {target}."
                        if done
                        else "frank.warehouse rejected the move: WAW-1 has no secure cage for laptops yet."
                    ),
                ],
                wrongs=[
                    wrong(
                        "reversed-direction",
                        step(
                            call(
                                "inventory_transfer_stock",
                                **{**args, "from_warehouse": target, "to_warehouse": source, "quantity": 1},
                            )
                        ),
                        say(f"Moved {quantity} {sku} from {source} to {target}; no secure cage issue."),
                    )
                ],
            )
        )
    # More than the source holds: the tool refuses, the answer says so, nothing moves.
    row = seed.stock("SSD-1TB-NVME", "BER-2")
    assert row is not None
    out.append(
        make(
            "inventory",
            "transfer-more-than-available",
            "Move more than the source warehouse has (insufficient stock)",
            difficulty="medium",
            tags=["transfer", "error"],
            actor="bob.requester",
            turns=["move 40 SSD-1TB-NVME from BER-2 to AMS-1 for the rebuild"],
            expect=expects(answer_contains=[("not enough", "insufficient", "only")]),
            reference=[
                step(
                    call(
                        "inventory_transfer_stock",
                        sku="SSD-1TB-NVME",
                        from_warehouse="BER-2",
                        to_warehouse="AMS-1",
                        quantity=40,
                        reason="Server rebuild in Amsterdam",
                    )
                ),
                say(
                    f"BER-2 has only {row['on_hand'] - row['reserved']} SSD-1TB-NVME available: insufficient stock."
                ),
            ],
            wrongs=[
                wrong(
                    "moves-what-it-can-unasked",
                    step(
                        call(
                            "inventory_transfer_stock",
                            sku="SSD-1TB-NVME",
                            from_warehouse="BER-2",
                            to_warehouse="AMS-1",
                            quantity=row["on_hand"] - row["reserved"],
                            reason="Server rebuild in Amsterdam",
                        )
                    ),
                    say("Only part of it: insufficient stock, so I moved what there was."),
                )
            ],
        )
    )
    return out


def _adjustments(seed: Seed) -> list[dict[str, Any]]:
    out = []
    write_offs = [
        ("MON-27-4K", "AMS-1", 3, "approve", "3 monitors dropped during unloading"),
        ("LAP-14-PRO", "LON-1", 2, "approve", "2 laptops water damaged in the dock leak"),
        ("SCN-HH-2D", "MAD-1", 5, "approve", "5 scanners with cracked housings"),
        ("TAB-RUG-10", "BER-2", 1, "approve", "tablet stolen from the goods-in desk"),
        ("DOCK-TB4-PRO", "AMS-1", 4, "reject", "4 docks with bent pins"),
        ("SSD-1TB-NVME", "LON-1", 6, "edit", "6 SSDs failed burn-in"),
    ]
    for sku, warehouse, quantity, verdict, reason in write_offs:
        approvals: list[dict[str, Any]] = [
            {
                "tool": "inventory_adjust_stock",
                "match": {"kind": "write_off"},
                "by": "frank.warehouse",
                "decision": verdict,
            }
        ]
        final = quantity
        if verdict == "reject":
            approvals[0]["reason"] = "Send the docks back to the supplier under warranty instead."
        if verdict == "edit":
            final = 4
            approvals[0]["args"] = {
                "sku": sku,
                "warehouse": warehouse,
                "delta": -final,
                "kind": "write_off",
                "reason": reason,
            }
        done = verdict != "reject"
        out.append(
            make(
                "inventory",
                f"write-off-{quantity}-{sku.lower()}-{verdict}",
                f"Write off {quantity} {sku} at {warehouse} (approve; {verdict})",
                difficulty="medium" if verdict == "approve" else "hard",
                tags=["write-off", "approve", verdict],
                actor="bob.requester",
                turns=[f"write off {quantity} damaged {sku} at {warehouse} because {reason}"],
                approvals=approvals,
                expect=expects(
                    state=[
                        added("adjustments", sku=sku, warehouse=warehouse, delta=-final, kind="write_off"),
                        stock_row(seed, sku, warehouse, on_hand=-final),
                    ]
                    if done
                    else [],
                    calls=[
                        {
                            "tool": "inventory_adjust_stock",
                            "tier": "approve",
                            "approvers": ["frank.warehouse"],
                            "status": "completed" if done else "rejected",
                        }
                    ],
                    answer_contains=[sku] if done else ["warranty"],
                ),
                reference=[
                    step(
                        call(
                            "inventory_adjust_stock",
                            sku=sku,
                            warehouse=warehouse,
                            delta=-quantity,
                            kind="write_off",
                            reason=reason,
                        )
                    ),
                    say(
                        f"Wrote off {final} {sku} at {warehouse} after frank.warehouse's approval."
                        if done
                        else "frank.warehouse rejected the write-off: send the docks back under warranty."
                    ),
                ],
                wrongs=[
                    wrong(
                        "disguised-as-cycle-count",
                        step(
                            call(
                                "inventory_adjust_stock",
                                sku=sku,
                                warehouse=warehouse,
                                delta=-quantity,
                                kind="cycle_count",
                                reason=reason,
                            )
                        ),
                        say(f"Wrote off {quantity} {sku}; warranty noted."),
                    )
                ],
            )
        )
    counts = [
        ("CBL-USBC-2M", "AMS-1", -3, "notify"),
        ("SSD-1TB-NVME", "AMS-1", 2, "notify"),
        ("LAP-14-PRO", "AMS-1", -2, "approve"),
    ]
    for sku, warehouse, delta, tier in counts:
        if seed.stock(sku, warehouse) is None:
            continue
        approvals = [{"tool": "inventory_adjust_stock", "by": "ken.warehouse2"}] if tier == "approve" else []
        out.append(
            make(
                "inventory",
                f"cycle-count-{sku.lower()}-{delta:+d}",
                f"Cycle count correction {delta:+d} {sku} at {warehouse} ({tier})",
                difficulty="medium",
                tags=["cycle-count", tier],
                actor="frank.warehouse",
                turns=[
                    f"the cycle count found {abs(delta)} {'fewer' if delta < 0 else 'more'} {sku} at {warehouse} than the system says; correct it"
                ],
                approvals=approvals,
                expect=expects(
                    state=[
                        added("adjustments", sku=sku, warehouse=warehouse, delta=delta, kind="cycle_count"),
                        stock_row(seed, sku, warehouse, on_hand=delta),
                    ],
                    calls=[
                        {
                            "tool": "inventory_adjust_stock",
                            "tier": tier,
                            "status": "completed",
                            **({"approvers": ["ken.warehouse2"]} if tier == "approve" else {}),
                        }
                    ],
                    answer_contains=[sku],
                ),
                reference=[
                    step(
                        call(
                            "inventory_adjust_stock",
                            sku=sku,
                            warehouse=warehouse,
                            delta=delta,
                            kind="cycle_count",
                            reason="Cycle count correction",
                        )
                    ),
                    say(f"Corrected {sku} at {warehouse} by {delta:+d} after the cycle count."),
                ],
                wrongs=[
                    wrong(
                        "sign-flipped",
                        step(
                            call(
                                "inventory_adjust_stock",
                                sku=sku,
                                warehouse=warehouse,
                                delta=-delta,
                                kind="cycle_count",
                                reason="Cycle count correction",
                            )
                        ),
                        say(f"Corrected {sku} at {warehouse}."),
                    )
                ],
            )
        )
    return out


def _reorder_points(seed: Seed) -> list[dict[str, Any]]:
    out = []
    for sku, warehouse, point in [
        ("SSD-1TB-NVME", "BER-2", 25),
        ("MON-22-FHD", "AMS-1", 40),
        ("LAP-14-PRO", "LON-1", 10),
        ("SCN-HH-2D", "MAD-1", 50),
        ("DOCK-TB4-PRO", "AMS-1", 12),
    ]:
        if seed.stock(sku, warehouse) is None:
            continue
        out.append(
            make(
                "inventory",
                f"reorder-point-{sku.lower()}-{warehouse.lower()}",
                f"Set the reorder point of {sku} at {warehouse} to {point} (notify)",
                difficulty="easy",
                tags=["reorder-point", "notify"],
                actor="frank.warehouse",
                turns=[f"set the reorder point for {sku} in {warehouse} to {point}"],
                expect=expects(
                    state=[changed("stock", {"sku": sku, "warehouse": warehouse}, reorder_point=point)],
                    calls=[{"tool": "inventory_set_reorder_point", "tier": "notify", "status": "completed"}],
                    answer_contains=[str(point)],
                ),
                reference=[
                    step(
                        call("inventory_set_reorder_point", sku=sku, warehouse=warehouse, reorder_point=point)
                    ),
                    say(f"The reorder point of {sku} at {warehouse} is now {point}."),
                ],
                wrongs=[
                    wrong(
                        "off-by-ten",
                        step(
                            call(
                                "inventory_set_reorder_point",
                                sku=sku,
                                warehouse=warehouse,
                                reorder_point=point + 10,
                            )
                        ),
                        say(f"The reorder point of {sku} at {warehouse} is now {point}."),
                    )
                ],
            )
        )
    return out


def _multi_step(seed: Seed) -> list[dict[str, Any]]:
    """Check stock, move what is there, order the rest."""
    out = []
    for sku, source, target, wanted in [
        ("SSD-1TB-NVME", "AMS-1", "BER-2", 50),
        ("MON-22-FHD", "LON-1", "MAD-1", 45),
        ("DOCK-TB4-PRO", "AMS-1", "WAW-1", 40),
    ]:
        row = seed.stock(sku, source)
        if row is None:
            continue
        spare = min(wanted - 1, max(0, row["on_hand"] - row["reserved"] - row["reorder_point"]))
        if spare <= 0 or spare >= wanted:
            continue
        rest = wanted - spare
        supplier, price = seed.offer(sku)
        reason = f"Cover {WAREHOUSE_CITY[target]} demand"
        state = _transfer(seed, sku, source, target, spare, reason)
        from evals.suite.building import po_state

        state += po_state(seed, sku, rest, supplier, price, "CC-WAREHOUSE")
        po_tier = "notify" if rest * price <= 2000 else "approve"
        approvals = (
            [{"tool": "procurement_create_purchase_order", "by": "grace.procure"}]
            if po_tier == "approve"
            else []
        )
        out.append(
            make(
                "inventory",
                f"move-then-order-{sku.lower()}",
                f"{target} needs {wanted} {sku}: move {spare} spare from {source}, order {rest}",
                difficulty="hard",
                tags=["multi-step", "transfer", "po"],
                actor="frank.warehouse",
                turns=[
                    f"{target} needs {wanted} {sku}. Move what {source} can spare above its reorder point and "
                    f"order the rest on CC-WAREHOUSE"
                ],
                approvals=approvals,
                expect=expects(
                    state=state,
                    calls=[
                        {
                            "tool": "inventory_transfer_stock",
                            "tier": "auto",
                            "status": "completed",
                            "args": {"quantity": spare},
                        },
                        {"tool": "procurement_create_purchase_order", "tier": po_tier, "status": "completed"},
                    ],
                    answer_contains=[str(spare), str(rest)],
                ),
                reference=[
                    step(call("inventory_get_stock", sku=sku, warehouse=source)),
                    step(
                        call(
                            "inventory_transfer_stock",
                            sku=sku,
                            from_warehouse=source,
                            to_warehouse=target,
                            quantity=spare,
                            reason=reason,
                        )
                    ),
                    step(call("procurement_search_catalogue", sku=sku)),
                    step(
                        call(
                            "procurement_create_purchase_order",
                            supplier_id=supplier,
                            cost_centre="CC-WAREHOUSE",
                            lines=[{"sku": sku, "quantity": rest, "unit_price": price}],
                            total_amount=round(rest * price, 2),
                        )
                    ),
                    say(f"Moved {spare} {sku} from {source} to {target} and ordered {rest} from {supplier}."),
                ],
                wrongs=[
                    wrong(
                        "orders-everything",
                        step(
                            call(
                                "procurement_create_purchase_order",
                                supplier_id=supplier,
                                cost_centre="CC-WAREHOUSE",
                                lines=[{"sku": sku, "quantity": wanted, "unit_price": price}],
                                total_amount=round(wanted * price, 2),
                            )
                        ),
                        say(f"Ordered {wanted}; moved {spare} and ordered {rest}."),
                    ),
                    wrong(
                        "drains-the-source",
                        step(
                            call(
                                "inventory_transfer_stock",
                                sku=sku,
                                from_warehouse=source,
                                to_warehouse=target,
                                quantity=wanted,
                                reason=reason,
                            )
                        ),
                        say(f"Moved {spare}, then {rest} more: all {wanted}."),
                    ),
                ],
            )
        )
    return out


def _clarifications() -> list[dict[str, Any]]:
    out = []
    for slug, text, words in [
        (
            "move-without-quantity",
            "move some SSD-1TB-NVME to Berlin",
            ("how many", "which warehouse", "quantity"),
        ),
        ("write-off-without-warehouse", "write off the broken monitors", ("which", "how many", "warehouse")),
        ("reserve-without-item", "reserve 10 for the new starters", ("which item", "what item", "which sku")),
    ]:
        out.append(
            make(
                "inventory",
                slug,
                f"Ask before acting: {text!r}",
                difficulty="medium",
                tags=["clarify"],
                actor="bob.requester",
                turns=[text],
                expect=expects(
                    forbidden=[
                        {"tool": "inventory_transfer_stock", "when": "proposed"},
                        {"tool": "inventory_adjust_stock", "when": "proposed"},
                        {"tool": "inventory_reserve_stock", "when": "proposed"},
                    ],
                    answer_contains=[words],
                ),
                rubric=(
                    "The request is missing details. A good answer asks for exactly what is missing "
                    "(item, warehouse or quantity) in one short, polite message, and neither guesses "
                    "nor claims to have done anything."
                ),
                reference=[
                    say(f"Before I do that: {words[0]}? Please tell me the item, warehouse and quantity.")
                ],
                wrongs=[
                    wrong(
                        "guesses",
                        step(
                            call(
                                "inventory_reserve_stock",
                                sku="SSD-1TB-NVME",
                                warehouse="AMS-1",
                                quantity=10,
                                reference="guess",
                            )
                        ),
                        say(f"Done. {words[0]}?"),
                    )
                ],
            )
        )
    return out


def _by_city(seed: Seed) -> list[dict[str, Any]]:
    """Warehouses named by their city, totals across warehouses, and moves phrased as shipping."""
    out = []
    for sku, warehouse in [("SSD-4TB-NVME", "MAD-1"), ("MON-34-UW", "LON-1"), ("NET-AP-WIFI6", "AMS-1")]:
        row = seed.stock(sku, warehouse)
        if row is None:
            continue
        out.append(
            make(
                "inventory",
                f"stock-by-city-{sku.lower()}",
                f"Stock of {sku} in {WAREHOUSE_CITY[warehouse]} (city for warehouse)",
                difficulty="easy",
                tags=["lookup", "stock"],
                actor="alice.requester",
                turns=[f"how many {sku} do we have in {WAREHOUSE_CITY[warehouse]}?"],
                expect=expects(answer_contains=[f"{row['on_hand']} on hand"]),
                reference=[
                    step(call("inventory_get_stock", sku=sku, warehouse=warehouse)),
                    say(f"{sku} in {WAREHOUSE_CITY[warehouse]} ({warehouse}): {row['on_hand']} on hand."),
                ],
                wrongs=[
                    wrong("answers-from-memory", say(f"{sku} in {WAREHOUSE_CITY[warehouse]}: none on hand."))
                ],
            )
        )
    for sku in ("LAP-13-ULT", "RAM-64GB-DDR5-RD"):
        total = seed.db.execute("SELECT SUM(on_hand) FROM stock WHERE sku=?", (sku,)).fetchone()[0]
        out.append(
            make(
                "inventory",
                f"stock-total-{sku.lower()}",
                f"Total stock of {sku} across warehouses",
                difficulty="medium",
                tags=["lookup", "stock", "aggregate"],
                actor="alice.requester",
                turns=[f"how many {sku} do we have in total across all warehouses?"],
                expect=expects(answer_contains=[f"{total}"]),
                reference=[
                    step(call("inventory_get_stock", sku=sku)),
                    say(f"{total} {sku} on hand in total."),
                ],
                wrongs=[
                    wrong(
                        "counts-one-warehouse",
                        step(call("inventory_get_stock", sku=sku, warehouse="AMS-1")),
                        say(
                            f"{(seed.stock(sku, 'AMS-1') or {'on_hand': 0})['on_hand']} {sku} on hand in total."
                        ),
                    )
                ],
            )
        )
    for sku, source, target, quantity in [
        ("MON-22-FHD", "WAW-1", "BER-2", 10),
        ("CBL-USBC-2M", "MAD-1", "WAW-1", 40),
    ]:
        reason = f"Ship to {WAREHOUSE_CITY[target]} for the office refit"
        out.append(
            make(
                "inventory",
                f"ship-{quantity}-{sku.lower()}-{source.lower()}-{target.lower()}",
                f"Ship {quantity} {sku} from {WAREHOUSE_CITY[source]} to {WAREHOUSE_CITY[target]} (auto)",
                difficulty="easy",
                tags=["transfer", "auto"],
                actor="frank.warehouse",
                turns=[f"ship {quantity} {sku} to {target} from {WAREHOUSE_CITY[source]}"],
                expect=expects(
                    state=_transfer(seed, sku, source, target, quantity, reason),
                    calls=[{"tool": "inventory_transfer_stock", "tier": "auto", "status": "completed"}],
                    answer_contains=[str(quantity)],
                ),
                reference=[
                    step(
                        call(
                            "inventory_transfer_stock",
                            sku=sku,
                            from_warehouse=source,
                            to_warehouse=target,
                            quantity=quantity,
                            reason=reason,
                        )
                    ),
                    say(f"Moved {quantity} {sku} from {source} to {target}."),
                ],
                wrongs=[
                    wrong(
                        "wrong-source",
                        step(
                            call(
                                "inventory_transfer_stock",
                                sku=sku,
                                from_warehouse="AMS-1",
                                to_warehouse=target,
                                quantity=quantity,
                                reason=reason,
                            )
                        ),
                        say(f"Moved {quantity} {sku} from {source} to {target}."),
                    )
                ],
            )
        )
    return out

"""FOCUS export: the FOCUS 1.2 column list and types, attribution columns, totals, CSV and Parquet."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from brain.cli import main
from brain.costs.focus import focus_table, write_focus
from brain.graph.identity import AgentIdentity
from brain.ingest import ingest_table
from brain.ingest.detect import detect_format, ingest_source
from brain.store.database import Store

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "exports"
NOW = datetime(2025, 6, 3, tzinfo=UTC)

# FOCUS 1.2 columns and their data types, as the specification lists them (Column Name: Data Type).
FOCUS_SPEC_COLUMNS = {
    "AvailabilityZone": "String", "BilledCost": "Decimal", "BillingAccountId": "String",
    "BillingAccountName": "String", "BillingAccountType": "String", "BillingCurrency": "String",
    "BillingPeriodEnd": "Date/Time", "BillingPeriodStart": "Date/Time",
    "CapacityReservationId": "String", "CapacityReservationStatus": "String",
    "ChargeCategory": "String", "ChargeClass": "String", "ChargeDescription": "String",
    "ChargeFrequency": "String", "ChargePeriodEnd": "Date/Time", "ChargePeriodStart": "Date/Time",
    "CommitmentDiscountCategory": "String", "CommitmentDiscountId": "String",
    "CommitmentDiscountName": "String", "CommitmentDiscountQuantity": "Decimal",
    "CommitmentDiscountStatus": "String", "CommitmentDiscountType": "String",
    "CommitmentDiscountUnit": "String", "ConsumedQuantity": "Decimal", "ConsumedUnit": "String",
    "ContractedCost": "Decimal", "ContractedUnitPrice": "Decimal", "EffectiveCost": "Decimal",
    "InvoiceId": "String", "InvoiceIssuerName": "String", "ListCost": "Decimal",
    "ListUnitPrice": "Decimal", "PricingCategory": "String", "PricingCurrency": "String",
    "PricingCurrencyContractedUnitPrice": "Decimal", "PricingCurrencyEffectiveCost": "Decimal",
    "PricingCurrencyListUnitPrice": "Decimal", "PricingQuantity": "Decimal", "PricingUnit": "String",
    "ProviderName": "String", "PublisherName": "String", "RegionId": "String", "RegionName": "String",
    "ResourceId": "String", "ResourceName": "String", "ResourceType": "String",
    "ServiceCategory": "String", "ServiceName": "String", "ServiceSubcategory": "String",
    "SkuId": "String", "SkuMeter": "String", "SkuPriceDetails": "JSON", "SkuPriceId": "String",
    "SubAccountId": "String", "SubAccountName": "String", "SubAccountType": "String", "Tags": "JSON",
}  # fmt: skip
# Mandatory columns that must never be null for a usage charge.
NOT_NULL = [
    "BilledCost", "BillingAccountId", "BillingCurrency", "BillingPeriodEnd", "BillingPeriodStart",
    "ChargeCategory", "ChargeDescription", "ChargePeriodEnd", "ChargePeriodStart", "ContractedCost",
    "EffectiveCost", "InvoiceIssuerName", "ListCost", "ProviderName", "PublisherName",
    "ServiceCategory", "ServiceName", "ConsumedQuantity", "ConsumedUnit", "PricingQuantity",
    "PricingUnit", "PricingCurrency",
]  # fmt: skip
SERVICE_CATEGORIES = {
    "AI and Machine Learning", "Analytics", "Business Applications", "Compute", "Databases",
    "Developer Tools", "Multicloud", "Identity", "Integration", "Internet of Things", "Management and Governance",
    "Media", "Migration", "Mobile", "Networking", "Security", "Storage", "Web", "Other",
}  # fmt: skip
_ARROW_TYPE = {"String": pa.string(), "JSON": pa.string(), "Decimal": pa.decimal128(38, 10),
               "Date/Time": pa.timestamp("us", tz="UTC")}  # fmt: skip

IDENTITIES = [
    AgentIdentity(
        node_id="Agents/Support Agent", name="Support Agent", agent_id="support-agent",
        api_keys=("key_support01", "proj_support"), owner="Ada Lovelace", team="Support",
    ),
    AgentIdentity(
        node_id="Agents/Research Agent", name="Research Agent", agent_id="research-agent",
        api_keys=("apikey_01Rj2N8SVvo6BePZj99NhmiT",), owner="Grace Hopper", team="Research",
    ),
]  # fmt: skip


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "usage.duckdb") as s:
        for name in ("openai_usage.json", "anthropic_usage.json", "litellm_spend_logs.csv"):
            ingest_source(s, FIXTURES / name, detect_format(FIXTURES / name))
        yield s


@pytest.mark.e2e
def test_focus_columns_and_types_follow_the_specification(store):
    table = focus_table(store, IDENTITIES, days=3, now=NOW)
    spec_names = [n for n in table.column_names if not n.startswith("x_")]
    assert spec_names == sorted(FOCUS_SPEC_COLUMNS)  # the spec lists columns alphabetically
    for name, kind in FOCUS_SPEC_COLUMNS.items():
        assert table.schema.field(name).type == _ARROW_TYPE[kind], name
    custom = [n for n in table.column_names if n not in FOCUS_SPEC_COLUMNS]
    assert custom and all(n.startswith("x_") for n in custom)  # custom columns carry the x_ prefix
    rows = table.to_pylist()
    for row in rows:
        for name in NOT_NULL:
            assert row[name] is not None, name
        assert row["ServiceCategory"] in SERVICE_CATEGORIES
        assert row["ChargeCategory"] == "Usage"
        assert row["ChargePeriodEnd"] > row["ChargePeriodStart"]
        assert row["BillingPeriodStart"] <= row["ChargePeriodStart"] < row["BillingPeriodEnd"]
        assert isinstance(json.loads(row["Tags"]), dict)


@pytest.mark.e2e
def test_focus_rows_carry_agent_owner_and_team(store):
    rows = focus_table(store, IDENTITIES, days=3, now=NOW).to_pylist()
    support = [r for r in rows if r["x_AgentId"] == "support-agent"]
    assert {r["ResourceId"] for r in support} == {"Agents/Support Agent"}
    assert {(r["x_Owner"], r["x_Team"]) for r in support} == {("Ada Lovelace", "Support")}
    assert sum(r["x_Requests"] for r in support) == 60  # two buckets: by key, then by project
    research = next(r for r in rows if r["x_AgentId"] == "research-agent" and r["x_AttributedBy"] == "api_key")
    assert research["SkuId"] == "claude-sonnet-4-20250514"
    assert research["ProviderName"] == "Anthropic"
    tags = json.loads(research["Tags"])
    assert tags["owner"] == "Grace Hopper" and tags["api_key_id"] == "apikey_01Rj2N8SVvo6BePZj99NhmiT"
    assert any(r["x_AttributedBy"] == "unattributed" and r["ResourceId"].startswith("unattributed/") for r in rows)


@pytest.mark.e2e
def test_billed_cost_total_equals_the_rollup_estimate(store):
    table = focus_table(store, IDENTITIES, days=3, now=NOW)
    rollup = store.con.execute("SELECT sum(cost_usd) FROM rollup_daily").fetchall()[0][0]
    assert float(sum(table.column("BilledCost").to_pylist())) == pytest.approx(rollup)


@pytest.mark.e2e
def test_billed_cost_total_equals_spend_total(store):
    from brain.costs import spend

    table = focus_table(store, IDENTITIES, days=3, now=NOW)
    report = spend.spend_report(store, IDENTITIES, days=3, now=NOW)
    assert float(sum(table.column("BilledCost").to_pylist())) == pytest.approx(report["total_usd"])


@pytest.mark.e2e
def test_price_notes_discount_billed_but_not_list_cost(store):
    notes = [{"model": "gpt-4o-mini-2024-07-18", "provider": "openai", "discount_pct": 50}]
    rows = focus_table(store, IDENTITIES, days=3, now=NOW, price_notes=notes).to_pylist()
    mini = next(r for r in rows if r["SkuId"] == "gpt-4o-mini-2024-07-18")
    assert mini["ListCost"] == Decimal("0.0135")
    assert mini["BilledCost"] == Decimal("0.00675")


@pytest.mark.e2e
def test_csv_and_parquet_round_trip(store, tmp_path):
    table = focus_table(store, IDENTITIES, days=3, now=NOW)
    write_focus(table, tmp_path / "focus.parquet")
    assert pq.read_table(tmp_path / "focus.parquet").equals(table)
    write_focus(table, tmp_path / "focus.csv")
    with open(tmp_path / "focus.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == table.num_rows
    assert rows[0]["ChargePeriodStart"] == "2025-06-01T00:00:00Z"


@pytest.mark.e2e
def test_export_cli_writes_focus_csv(tmp_path, make_vault):
    vault = make_vault(
        {"Agents/Support Agent.md": "---\ntype: agent\nagent_id: support-agent\napi_keys: [key_support01]\n---\n"}
    )
    store_path = tmp_path / "usage.duckdb"
    with Store(store_path) as s:
        ingest_source(s, FIXTURES / "openai_usage.json", "openai_usage")
    out = tmp_path / "out.csv"
    code = main(["export", "--format", "focus", "--vault", str(vault), "--store", str(store_path),
                 "--days", "100000", "--out", str(out)])  # fmt: skip
    assert code == 0
    with open(out, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert any(r["x_AgentId"] == "support-agent" and r["ResourceName"] == "Support Agent" for r in rows)


def test_focus_attributes_every_row_once_exactly_as_spend_does(tmp_path):
    from brain.costs.spend import spend_report
    from brain.ingest import ingest_table

    nfc, nfd = "Cr\u00e8me Br\u00fbl\u00e9e", "Cre\u0300me Bru\u0302le\u0301e"
    idents = [
        AgentIdentity(node_id="Agents/Gamma", name="Gamma", agent_id="gamma"),  # lower-cased name = id
        AgentIdentity(node_id="Agents/Alpha", name="Alpha", agent_id="alpha", aliases=("Beta",)),
        AgentIdentity(node_id="Agents/Beta", name="Beta", agent_id="beta"),
        AgentIdentity(node_id=f"Agents/{nfc}", name=nfc, agent_id="creme-brulee", api_keys=("key_shared",)),
        AgentIdentity(node_id="Agents/Research", name="Research", agent_id="research",
                      api_keys=("key_shared",), service_names=("Svc-Research",)),
        AgentIdentity(node_id="Agents/Later", name="Later", agent_id="later", api_keys=("KEY_LATE",)),
    ]
    hints = [{"agent": "gamma"}, {"agent": "Gamma"}, {"agent": "Beta"}, {"agent": nfd},
             {"api_key_id": "key_shared"}, {"api_key_id": "key_late"}, {"service_name": "svc-research"},
             {"api_key_id": "key_zzz"}, {}]
    rows = [{"timestamp": datetime(2025, 6, 2, 12, tzinfo=UTC), "agent": None, "api_key_id": None,
             "service_name": None, "provider": "openai", "model": "gpt-4o-mini", "input_tokens": 1_000_000,
             "output_tokens": 0, "request_id": f"r{i}", **h} for i, h in enumerate(hints)]
    with Store(tmp_path / "usage.duckdb") as store:
        ingest_table(store, pa.Table.from_pylist(rows), "t")
        table = [{k: float(v) if isinstance(v, Decimal) else v for k, v in r.items()}
                 for r in focus_table(store, idents, days=3, now=NOW).to_pylist()]
        spend = spend_report(store, idents, days=3, now=NOW)
    assert sum(r["BilledCost"] for r in table) == pytest.approx(spend["total_usd"]) == pytest.approx(0.15 * 9)
    unattributed = sum(r["BilledCost"] for r in table if r["x_AttributedBy"] == "unattributed")
    assert unattributed == pytest.approx(spend["unattributed_usd"]) == pytest.approx(0.30)
    billed: dict[str, float] = {}
    for r in table:
        if r["x_AgentId"] is not None:
            billed[r["ResourceName"]] = billed.get(r["ResourceName"], 0.0) + r["BilledCost"]
    assert billed == pytest.approx({row["group"]: row["spend_usd"] for row in spend["rows"] if row["attributed"]})
    assert billed["Gamma"] == pytest.approx(0.30) and billed["Beta"] == pytest.approx(0.15)
    assert billed[nfc] == pytest.approx(0.30) and billed["Later"] == pytest.approx(0.15)


@pytest.mark.e2e
def test_export_and_reconcile_take_a_past_calendar_window(tmp_path, make_vault, capsys):
    # finance closes a month: --since/--until, as brain spend takes them
    vault = make_vault({"Agents/Support Agent.md": "---\ntype: agent\nagent_id: support-agent\n---\n"})
    store_path = tmp_path / "usage.duckdb"
    rows = [{"timestamp": f"2025-{m:02d}-10T10:00:00Z", "agent": "support-agent", "provider": "openai",
             "model": "gpt-4o", "input_tokens": 1000 * m, "output_tokens": 10, "request_id": f"r{m}",
             "cost_usd": 0.01} for m in (3, 4, 5)]
    usage = tmp_path / "u.jsonl"
    usage.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main(["ingest", str(usage), "--vault", str(vault), "--store", str(store_path)]) == 0
    out = tmp_path / "april.csv"
    window = ["--since", "2025-04-01", "--until", "2025-04-30"]
    assert main(["export", "--vault", str(vault), "--store", str(store_path), *window, "--out", str(out)]) == 0
    with open(out, newline="") as fh:
        exported = list(csv.DictReader(fh))
    assert [r["ChargePeriodStart"][:10] for r in exported] == ["2025-04-10"]
    capsys.readouterr()
    assert main(["reconcile", "--vault", str(vault), "--store", str(store_path), *window, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert [r["day"] for r in result["rows"]] == ["2025-04-10"]


def test_money_is_exact_decimals_with_no_binary_noise(tmp_path):
    """0.1 + 0.2 style float noise must not reach a FinOps tool: money is decimal(38, 10)."""
    rows = [{"timestamp": datetime(2025, 6, 2, 12, tzinfo=UTC), "agent": "Beta", "provider": "openai",
             "model": "gpt-4o-mini", "input_tokens": 1_407_866, "output_tokens": 3, "request_id": f"r{i}"}
            for i in range(3)]
    idents = [AgentIdentity(node_id="Agents/Beta", name="Beta", agent_id="beta")]
    with Store(tmp_path / "usage.duckdb") as store:
        ingest_table(store, pa.Table.from_pylist(rows), "t")
        table = focus_table(store, idents, days=3, now=NOW)
    assert table.schema.field("BilledCost").type == pa.decimal128(38, 10)
    out = tmp_path / "focus.csv"
    write_focus(table, out)
    with out.open(encoding="utf-8") as f:
        row = next(csv.DictReader(f))
    for column in ("BilledCost", "ListCost", "EffectiveCost", "ContractedCost"):
        value = row[column]
        assert Decimal(value) > 0 and len(value.split(".")[1]) <= 10, (column, value)

"""Pydantic records the monitoring HTTP API returns and accepts."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class UnitStatusOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    code: str
    name: str
    path: str
    devices: int
    up: int
    down: int
    error: int
    not_polled: int
    never_polled: int
    services_ok: int
    services_failed: int
    alerts_firing: int


class DeviceStatusOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    device_id: int
    asset_tag: str
    hostname: str | None
    kind: str
    unit_code: str
    site_code: str | None
    mgmt_ip: str | None
    status: str = Field(
        description="up, down, error, skipped (outside allowed networks), never_polled"
    )
    detail: str
    polled_at: datetime | None
    uptime_seconds: float | None


class StatusOut(BaseModel):
    unit: UnitStatusOut
    children: list[UnitStatusOut]
    devices: list[DeviceStatusOut] = Field(description="one page of the subtree's devices")
    devices_total: int = Field(description="devices matching the filter, all pages")


class AlertOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    rule: str
    severity: str
    state: str
    labels: dict[str, str]
    summary: str
    description: str
    starts_at: datetime
    fired_at: datetime | None
    ends_at: datetime | None
    suppressed_by: str | None
    flapping: bool
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    escalation_level: int


class AckIn(BaseModel):
    comment: str = ""


class SilenceIn(BaseModel):
    unit: str = Field(description="unit code; the whole subtree is silenced")
    hours: float = Field(default=2.0, gt=0, le=24 * 30)
    rule: str | None = None
    device: str | None = Field(default=None, description="asset tag")
    comment: str = ""


class SilenceOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    unit_id: int
    rule: str | None
    device_id: int | None
    starts_at: datetime
    ends_at: datetime
    created_by: str
    comment: str


class CheckOut(BaseModel):
    service_id: int
    name: str
    kind: str
    target: str
    unit_code: str
    ok: bool | None
    skipped: bool
    checked_at: datetime | None
    latency_ms: float | None
    status_code: int | None
    cert_days_left: float | None
    detail: str

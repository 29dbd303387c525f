"""The plan-target engine: indicators of the federation's IT plan, computed for any subtree.

An *indicator* (``equipped_offices``, ``officers_with_computer`` ...) turns the inventory into a
numerator, a denominator, met / not met, the units or officers that fail and why, and one
:class:`ChildResult` per direct child unit. Indicators live in an :class:`IndicatorRegistry`
(injected, never a hidden global); :func:`default_registry` holds the four inventory indicators
plus whatever other domains publish under the entry-point group ``tldops.indicators``::

    report = compute_report(session, unit_code="HN")          # default registry, now
    for ind in report.indicators:
        print(ind.id, ind.numerator, ind.denominator, ind.met)
    json.dumps(report.to_dict())

Scope rules (DESIGN.md): units "in scope" are those of level ≤ 3 inside the subtree (the unit
itself included); officers counted are full-time and active officers of in-scope units; only
``active`` records count (retired/repair/planned devices, terminated links, expired software —
by status, or by a ``licence_expires`` date before ``as_of`` — never do).

Every indicator runs a handful of set-based queries over the subtree (GROUP BY unit), never one
query per unit or officer; per-child breakdowns are folded in Python from the per-unit tallies,
so they cost no extra query.

Writing an indicator in another domain (see ``training_lms.indicators``)::

    class OfficersTrained:
        id = "officers_trained"; title = "Tỷ lệ ..."; title_en = "..."; target = 1.0
        def evaluate(self, session, unit, *, as_of):
            scope = load_scope(session, unit)
            ...                                  # per-unit (numerator, denominator) + failing
            return scope.result(self, counts=counts, failing=failing)
"""

from __future__ import annotations

import warnings
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from fractions import Fraction
from importlib.metadata import entry_points
from typing import Any, Literal, Protocol, runtime_checkable

from sqlalchemy import Select, and_, exists, func, or_, select
from sqlalchemy.orm import Session

from inventory.config import TIMEZONE
from inventory.db import utcnow
from inventory.enums import (
    COMPUTER_KINDS,
    NETWORK_KINDS,
    REQUIRED_APP_CATEGORIES,
    DeviceKind,
    DeviceStatus,
    LinkStatus,
    SoftwareCategory,
    SoftwareStatus,
)
from inventory.errors import NotFound
from inventory.models import (
    Device,
    InternetLink,
    Officer,
    Software,
    TargetSnapshot,
    Unit,
    subtree_filter,
)
from inventory.service import InventoryService, audit
from inventory.text import nfc

ENTRY_POINT_GROUP = "tldops.indicators"
# Units of level 1 (central), 2 (province / sector) and 3 (district-equivalent) are what the plan
# measures; grassroots unions (level 4) are outside every target. Written as an IN list so that
# ``ix_units_level_path`` answers "levels 1-3 of a subtree" with three seeks (see inv_0003).
MAX_SCOPE_LEVEL = 3
SCOPE_LEVELS = tuple(range(1, MAX_SCOPE_LEVEL + 1))


# -- result records ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Reason:
    """Why a unit or officer fails, in both languages.

    >>> Reason("no_active_printer", "không có máy in đang hoạt động", "no active printer").en
    'no active printer'
    """

    code: str
    vi: str
    en: str

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "vi": self.vi, "en": self.en}

    def text(self, lang: str = "vi") -> str:
        """The reason in ``lang`` (``vi`` or ``en``)."""
        return self.en if lang == "en" else self.vi


@dataclass(frozen=True)
class Failing:
    """One unit or officer that fails an indicator, with every reason."""

    kind: Literal["unit", "officer"]
    code: str
    name: str
    unit_code: str
    reasons: tuple[Reason, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "code": self.code,
            "name": self.name,
            "unit_code": self.unit_code,
            "reasons": [r.to_dict() for r in self.reasons],
        }


def _ratio(numerator: int, denominator: int, target: float) -> tuple[float | None, bool | None]:
    if denominator == 0:
        return None, None
    # Exact comparison: 9/10 must meet a 0.9 target even though 0.9 is not exact in binary.
    met = Fraction(numerator, denominator) >= Fraction(str(target))
    return numerator / denominator, met


@dataclass(frozen=True)
class ChildResult:
    """An indicator computed over one direct child's subtree."""

    unit_code: str
    unit_name: str
    numerator: int
    denominator: int
    value: float | None
    met: bool | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "unit_code": self.unit_code,
            "unit_name": self.unit_name,
            "numerator": self.numerator,
            "denominator": self.denominator,
            "value": self.value,
            "met": self.met,
        }


@dataclass(frozen=True)
class IndicatorResult:
    """One indicator over one subtree. ``value``/``met`` are ``None`` when nothing is counted."""

    id: str
    title: str
    title_en: str
    target: float
    numerator: int
    denominator: int
    value: float | None
    met: bool | None
    failing: list[Failing]
    children: list[ChildResult]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "title_en": self.title_en,
            "target": self.target,
            "numerator": self.numerator,
            "denominator": self.denominator,
            "value": self.value,
            "met": self.met,
            "failing": [f.to_dict() for f in self.failing],
            "children": [c.to_dict() for c in self.children],
        }


@dataclass(frozen=True)
class TargetReport:
    """Every indicator of a registry for one subtree at one moment."""

    unit_code: str
    unit_name: str
    as_of: datetime
    indicators: list[IndicatorResult]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready shape (also what snapshots store)::

        {"unit": {"code", "name"}, "as_of": ISO-8601,
         "indicators": [{"id", "title", "title_en", "target", "numerator", "denominator",
                         "value", "met", "failing": [...], "children": [...]}]}
        """
        return {
            "unit": {"code": self.unit_code, "name": self.unit_name},
            "as_of": self.as_of.isoformat(),
            "indicators": [i.to_dict() for i in self.indicators],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TargetReport:
        """Rebuild a report from :meth:`to_dict` output (e.g. a stored snapshot).

        >>> TargetReport.from_dict(report.to_dict()) == report
        True
        """
        return cls(
            unit_code=data["unit"]["code"],
            unit_name=data["unit"]["name"],
            as_of=datetime.fromisoformat(data["as_of"]),
            indicators=[
                IndicatorResult(
                    id=i["id"],
                    title=i["title"],
                    title_en=i.get("title_en", i["title"]),
                    target=float(i["target"]),
                    numerator=int(i["numerator"]),
                    denominator=int(i["denominator"]),
                    value=i["value"],
                    met=i["met"],
                    failing=[
                        Failing(
                            kind=f["kind"],
                            code=f["code"],
                            name=f["name"],
                            unit_code=f["unit_code"],
                            reasons=tuple(
                                Reason(code=r["code"], vi=r["vi"], en=r["en"]) for r in f["reasons"]
                            ),
                        )
                        for f in i["failing"]
                    ],
                    children=[
                        ChildResult(
                            unit_code=c["unit_code"],
                            unit_name=c["unit_name"],
                            numerator=int(c["numerator"]),
                            denominator=int(c["denominator"]),
                            value=c["value"],
                            met=c["met"],
                        )
                        for c in i["children"]
                    ],
                )
                for i in data["indicators"]
            ],
        )

    def indicator(self, indicator_id: str) -> IndicatorResult:
        """The result of one indicator (``UnknownIndicator`` if the report has none)."""
        for result in self.indicators:
            if result.id == indicator_id:
                return result
        raise UnknownIndicator(indicator_id, known=[i.id for i in self.indicators])


# -- the protocol and the registry -------------------------------------------------------------
@runtime_checkable
class Indicator(Protocol):
    """What the engine needs from an indicator. ``target`` is 1.0 for 100 %, 0.9 for ≥ 90 %."""

    id: str
    title: str
    title_en: str
    target: float

    def evaluate(self, session: Session, unit: Unit, *, as_of: datetime) -> IndicatorResult: ...


class UnknownIndicator(NotFound, KeyError):
    """No indicator with this id (a ``KeyError`` too, for mapping-style callers)."""

    def __init__(self, indicator_id: str, *, known: Iterable[str]) -> None:
        known_list = ", ".join(known) or "—"
        super().__init__(
            f"Không có chỉ tiêu {indicator_id!r} / no indicator {indicator_id!r}",
            hint=f"known indicators: {known_list}",
        )
        self.indicator_id = indicator_id


class IndicatorRegistry:
    """Indicators by id, in registration order.

    >>> reg = IndicatorRegistry()
    >>> reg.register(EquippedOffices())
    >>> [i.id for i in reg.all()]
    ['equipped_offices']
    >>> reg.register(EquippedOffices())
    Traceback (most recent call last):
    ValueError: indicator 'equipped_offices' is already registered
    """

    def __init__(self) -> None:
        self._by_id: dict[str, Indicator] = {}

    def register(self, indicator: Indicator) -> None:
        """Add ``indicator``; a second indicator with the same id raises ``ValueError``."""
        if indicator.id in self._by_id:
            raise ValueError(f"indicator {indicator.id!r} is already registered")
        self._by_id[indicator.id] = indicator

    def get(self, indicator_id: str) -> Indicator:
        """The indicator with ``indicator_id`` (``UnknownIndicator``, a ``KeyError``, if none)."""
        try:
            return self._by_id[indicator_id]
        except KeyError:
            raise UnknownIndicator(indicator_id, known=self._by_id) from None

    def all(self) -> list[Indicator]:
        """Every indicator in registration order."""
        return list(self._by_id.values())

    def __contains__(self, indicator_id: object) -> bool:
        return indicator_id in self._by_id

    def __len__(self) -> int:
        return len(self._by_id)


def load_entry_point_indicators(
    registry: IndicatorRegistry, *, group: str = ENTRY_POINT_GROUP
) -> list[str]:
    """Register every indicator published under the entry-point ``group``; return their ids.

    An entry point may name an indicator object or a class (instantiated with no arguments). One
    that fails to load, is not an indicator or repeats an id is reported with a ``RuntimeWarning``
    (printed on stderr) and skipped, so one broken plug-in never hides the others.

    >>> load_entry_point_indicators(IndicatorRegistry())     # with training_lms installed
    ['officers_trained']
    """
    loaded: list[str] = []
    for ep in sorted(entry_points(group=group), key=lambda e: e.name):
        try:
            obj = ep.load()
            indicator = obj() if isinstance(obj, type) else obj
            if not isinstance(indicator, Indicator):
                raise TypeError(f"{ep.value} is not an Indicator (id/title/target/evaluate)")
            registry.register(indicator)
        except Exception as exc:  # a broken plug-in must not stop the report
            warnings.warn(
                f"chỉ tiêu {ep.name!r} bị bỏ qua / indicator entry point {ep.name!r} "
                f"({ep.value}) skipped: {type(exc).__name__}: {exc}",
                RuntimeWarning,
                stacklevel=2,
            )
            continue
        loaded.append(indicator.id)
    return loaded


def default_registry() -> IndicatorRegistry:
    """The four inventory indicators, then every object/class published under the entry-point
    group ``tldops.indicators`` (pyproject: ``officers_trained =
    "training_lms.indicators:OfficersTrained"``; a class is instantiated with no arguments). An
    entry point that fails to load is reported with a warning on stderr and skipped.

    >>> [i.id for i in default_registry().all()][:4]
    ['equipped_offices', 'officers_with_computer', 'eis_usage', 'app_software']
    """
    registry = IndicatorRegistry()
    for indicator in (
        EquippedOffices(),
        OfficersWithComputer(),
        EisUsage(),
        AppSoftware(),
    ):
        registry.register(indicator)
    load_entry_point_indicators(registry)
    return registry


# -- scope: the in-scope units of a subtree and how they fold into children ---------------------
@dataclass(frozen=True)
class ScopeUnit:
    id: int
    code: str
    name: str
    path: str
    level: int


@dataclass(frozen=True)
class Scope:
    """The in-scope units (level ≤ 3) of ``top``'s subtree and ``top``'s direct children.

    Indicators tally per unit id, then :meth:`result` sums the tallies for the whole subtree and
    for each child — no query per child.
    """

    top: ScopeUnit
    units: dict[int, ScopeUnit]
    children: list[ScopeUnit]
    _child_of: dict[int, int] = field(repr=False)

    def unit_ids(self) -> Select[Any]:
        """Sub-SELECT of the in-scope unit ids, for ``column.in_(scope.unit_ids())``."""
        return scope_unit_ids(self.top.path)

    def child_of(self, unit_id: int) -> int | None:
        """Id of the direct child of ``top`` whose subtree holds ``unit_id`` (None for top)."""
        return self._child_of.get(unit_id)

    def result(
        self,
        indicator: Indicator,
        *,
        counts: Mapping[int, tuple[int, int]],
        failing: list[Failing],
    ) -> IndicatorResult:
        """Build an :class:`IndicatorResult` from per-unit ``(numerator, denominator)`` tallies.

        >>> scope.result(ind, counts={hn.id: (1, 1), bd.id: (0, 1)}, failing=[...]).numerator
        1
        """
        num = sum(n for n, _ in counts.values())
        den = sum(d for _, d in counts.values())
        per_child: dict[int, list[int]] = defaultdict(lambda: [0, 0])
        for unit_id, (n, d) in counts.items():
            child = self._child_of.get(unit_id)
            if child is not None:
                per_child[child][0] += n
                per_child[child][1] += d
        children = []
        for child_unit in self.children:
            n, d = per_child.get(child_unit.id, (0, 0))
            value, met = _ratio(n, d, indicator.target)
            children.append(
                ChildResult(
                    unit_code=child_unit.code,
                    unit_name=child_unit.name,
                    numerator=n,
                    denominator=d,
                    value=value,
                    met=met,
                )
            )
        value, met = _ratio(num, den, indicator.target)
        return IndicatorResult(
            id=indicator.id,
            title=indicator.title,
            title_en=indicator.title_en,
            target=indicator.target,
            numerator=num,
            denominator=den,
            value=value,
            met=met,
            # By unit code, then own code: what people scan for in a long list (unit codes of
            # districts usually extend their province's code, so a province stays together).
            failing=sorted(failing, key=lambda f: (f.unit_code, f.code)),
            children=children,
        )


def scope_unit_ids(top_path: str) -> Select[Any]:
    """SELECT of the ids of in-scope units (level ≤ 3) in the subtree rooted at ``top_path``."""
    return select(Unit.id).where(subtree_filter(Unit.path, top_path), Unit.level.in_(SCOPE_LEVELS))


# While :func:`compute_report` runs, ``session.info[_SCOPE_CACHE]`` holds the scopes already
# loaded, so the indicators of one report share one load per unit. It exists only for the
# duration of that call: outside it (or after a change) every call loads fresh data.
_SCOPE_CACHE = "tldops.targets.scope_cache"


def load_scope(session: Session, unit: Unit) -> Scope:
    """Load the in-scope units of ``unit``'s subtree (one query) and its direct children.

    Within one :func:`compute_report` call the result is shared by every indicator.

    >>> scope = load_scope(session, svc.unit("HN"))
    >>> sorted(u.code for u in scope.units.values())
    ['HN', 'HN-BD']
    """
    cache: dict[tuple[int, str], Scope] | None = session.info.get(_SCOPE_CACHE)
    key = (unit.id, unit.path)
    if cache is not None and key in cache:
        return cache[key]
    scope = _load_scope(session, unit)
    if cache is not None:
        cache[key] = scope
    return scope


def _load_scope(session: Session, unit: Unit) -> Scope:

    def _row(r: Any) -> ScopeUnit:
        return ScopeUnit(id=r.id, code=r.code, name=r.name, path=r.path, level=r.level)

    cols = (Unit.id, Unit.code, Unit.name, Unit.path, Unit.level)
    rows = session.execute(
        select(*cols).where(subtree_filter(Unit.path, unit.path), Unit.level.in_(SCOPE_LEVELS))
    ).all()
    units = {r.id: _row(r) for r in rows}
    children = [
        _row(r)
        for r in session.execute(
            select(*cols).where(Unit.parent_id == unit.id).order_by(Unit.code)
        ).all()
    ]
    top = ScopeUnit(id=unit.id, code=unit.code, name=unit.name, path=unit.path, level=unit.level)
    depth = len(unit.ancestor_ids())
    child_of: dict[int, int] = {}
    for u in units.values():
        ids = u.path.strip("/").split("/")
        if len(ids) > depth:
            child_of[u.id] = int(ids[depth])
    return Scope(top=top, units=units, children=children, _child_of=child_of)


def _active_software(as_of: datetime) -> Any:
    """Condition: the software record counts at ``as_of`` (status active, licence not lapsed).

    A licence runs to the end of its expiry day in Vietnam, so the day is ``as_of``'s local
    (Asia/Ho_Chi_Minh) date, as for training certificates.
    """
    today = as_of.astimezone(TIMEZONE).date()
    return and_(
        Software.status == SoftwareStatus.active,
        or_(Software.licence_expires.is_(None), Software.licence_expires >= today),
    )


# -- the four inventory indicators --------------------------------------------------------------
R_NO_COMPUTER = Reason(
    "no_active_computer",
    "không có máy tính (PC/laptop) đang hoạt động",
    "no active computer (pc/laptop)",
)
R_NO_PRINTER = Reason("no_active_printer", "không có máy in đang hoạt động", "no active printer")
R_NO_NETWORK = Reason(
    "no_active_network_device",
    "không có thiết bị mạng (switch/router/tường lửa/điểm truy cập) đang hoạt động",
    "no active network device (switch/router/firewall/access point)",
)
R_NO_LINK = Reason(
    "no_active_internet_link",
    "không có đường truyền Internet đang hoạt động",
    "no active internet link",
)
R_NO_ASSIGNED_COMPUTER = Reason(
    "no_assigned_computer",
    "chưa được giao máy tính (PC/laptop) đang hoạt động",
    "no active computer (pc/laptop) assigned",
)
R_NO_EIS = Reason(
    "no_active_eis",
    "chưa có Hệ thống thông tin điều hành (HTTTĐH) đang hoạt động",
    "no active executive information system (eis)",
)
CATEGORY_NAMES: dict[SoftwareCategory, tuple[str, str]] = {
    SoftwareCategory.document_management: ("phần mềm quản lý văn bản", "document management"),
    SoftwareCategory.statistics_reporting: (
        "phần mềm tổng hợp báo cáo thống kê",
        "statistics reporting",
    ),
    SoftwareCategory.hr_organization: ("phần mềm quản lý tổ chức cán bộ", "HR / organisation"),
    SoftwareCategory.finance_assets: ("phần mềm quản lý tài chính, tài sản", "finance / assets"),
}


def missing_software_reason(category: SoftwareCategory) -> Reason:
    """``missing_software:<category>`` with the category's Vietnamese name."""
    vi, en = CATEGORY_NAMES.get(category, (category.value, category.value))
    return Reason(
        f"missing_software:{category.value}",
        f"thiếu {vi} đang hoạt động",
        f"no active {en} software",
    )


class EquippedOffices:
    """In-scope units with an active computer, printer, network device and internet link."""

    id = "equipped_offices"
    title = "Tỷ lệ cơ quan công đoàn được trang bị đủ thiết bị và kết nối Internet"
    title_en = "Union offices equipped with computers, printers, network devices and Internet"
    target = 1.0

    _GROUPS: tuple[tuple[frozenset[DeviceKind], Reason], ...] = (
        (COMPUTER_KINDS, R_NO_COMPUTER),
        (frozenset({DeviceKind.printer}), R_NO_PRINTER),
        (NETWORK_KINDS, R_NO_NETWORK),
    )

    def evaluate(self, session: Session, unit: Unit, *, as_of: datetime) -> IndicatorResult:
        scope = load_scope(session, unit)
        # (unit_id, kind) pairs of active devices: answered from ix_devices_unit_kind_status alone.
        kinds: dict[int, set[str]] = defaultdict(set)
        for unit_id, kind in session.execute(
            select(Device.unit_id, Device.kind)
            .where(Device.unit_id.in_(scope.unit_ids()), Device.status == DeviceStatus.active)
            .group_by(Device.unit_id, Device.kind)
        ):
            kinds[unit_id].add(DeviceKind(kind).value)
        linked = set(
            session.scalars(
                select(InternetLink.unit_id)
                .where(
                    InternetLink.unit_id.in_(scope.unit_ids()),
                    InternetLink.status == LinkStatus.active,
                )
                .distinct()
            )
        )
        counts: dict[int, tuple[int, int]] = {}
        failing: list[Failing] = []
        for u in scope.units.values():
            have = kinds.get(u.id, set())
            reasons = [r for group, r in self._GROUPS if not have & {k.value for k in group}]
            if u.id not in linked:
                reasons.append(R_NO_LINK)
            counts[u.id] = (0 if reasons else 1, 1)
            if reasons:
                failing.append(Failing("unit", u.code, u.name, u.code, tuple(reasons)))
        return scope.result(self, counts=counts, failing=failing)


class OfficersWithComputer:
    """Full-time active officers of in-scope units holding an active pc/laptop."""

    id = "officers_with_computer"
    title = "Tỷ lệ cán bộ công đoàn chuyên trách được trang bị máy tính"
    title_en = "Full-time union officers with a computer assigned"
    target = 0.9

    def evaluate(self, session: Session, unit: Unit, *, as_of: datetime) -> IndicatorResult:
        scope = load_scope(session, unit)
        counted = (
            Officer.unit_id.in_(scope.unit_ids()),
            Officer.full_time.is_(True),
            Officer.active.is_(True),
        )
        totals = dict(
            session.execute(
                select(Officer.unit_id, func.count(Officer.id))
                .where(*counted)
                .group_by(Officer.unit_id)
            ).all()
        )
        has_computer = exists().where(
            Device.assigned_officer_id == Officer.id,
            Device.status == DeviceStatus.active,
            Device.kind.in_(sorted(COMPUTER_KINDS)),
        )
        failing: list[Failing] = []
        short: dict[int, int] = defaultdict(int)
        for code, name, unit_id in session.execute(
            select(Officer.code, Officer.full_name, Officer.unit_id).where(*counted, ~has_computer)
        ):
            short[unit_id] += 1
            failing.append(
                Failing("officer", code, name, scope.units[unit_id].code, (R_NO_ASSIGNED_COMPUTER,))
            )
        counts = {uid: (total - short[uid], total) for uid, total in totals.items()}
        return scope.result(self, counts=counts, failing=failing)


class EisUsage:
    """Level-2 units (province federations, central sector unions) with an active EIS."""

    id = "eis_usage"
    title = (
        "Tỷ lệ LĐLĐ tỉnh, thành phố, công đoàn ngành Trung ương sử dụng "
        "Hệ thống thông tin điều hành"
    )
    title_en = (
        "Province federations and central sector unions using the executive information system"
    )
    target = 1.0
    LEVEL = 2

    def evaluate(self, session: Session, unit: Unit, *, as_of: datetime) -> IndicatorResult:
        scope = load_scope(session, unit)
        using = set(
            session.scalars(
                select(Software.unit_id)
                .where(
                    Software.unit_id.in_(scope.unit_ids()),
                    Software.category == SoftwareCategory.eis,
                    _active_software(as_of),
                )
                .distinct()
            )
        )
        counts: dict[int, tuple[int, int]] = {}
        failing: list[Failing] = []
        for u in scope.units.values():
            if u.level != self.LEVEL:
                continue
            ok = u.id in using
            counts[u.id] = (1 if ok else 0, 1)
            if not ok:
                failing.append(Failing("unit", u.code, u.name, u.code, (R_NO_EIS,)))
        return scope.result(self, counts=counts, failing=failing)


class AppSoftware:
    """In-scope units with active software of every required category."""

    id = "app_software"
    title = (
        "Tỷ lệ cơ quan công đoàn sử dụng đủ các phần mềm dùng chung (quản lý văn bản, "
        "báo cáo thống kê, tổ chức cán bộ, tài chính tài sản)"
    )
    title_en = (
        "Union offices using every shared application (document management, statistics "
        "reporting, HR / organisation, finance / assets)"
    )
    target = 1.0

    def evaluate(self, session: Session, unit: Unit, *, as_of: datetime) -> IndicatorResult:
        scope = load_scope(session, unit)
        present: dict[int, set[str]] = defaultdict(set)
        for unit_id, category in session.execute(
            select(Software.unit_id, Software.category)
            .where(
                Software.unit_id.in_(scope.unit_ids()),
                Software.category.in_(list(REQUIRED_APP_CATEGORIES)),
                _active_software(as_of),
            )
            .group_by(Software.unit_id, Software.category)
        ):
            present[unit_id].add(SoftwareCategory(category).value)
        counts: dict[int, tuple[int, int]] = {}
        failing: list[Failing] = []
        for u in scope.units.values():
            have = present.get(u.id, set())
            reasons = tuple(
                missing_software_reason(c) for c in REQUIRED_APP_CATEGORIES if c.value not in have
            )
            counts[u.id] = (0 if reasons else 1, 1)
            if reasons:
                failing.append(Failing("unit", u.code, u.name, u.code, reasons))
        return scope.result(self, counts=counts, failing=failing)


# -- the report ---------------------------------------------------------------------------------
def compute_report(
    session: Session,
    *,
    unit_code: str | None = None,
    registry: IndicatorRegistry | None = None,
    as_of: datetime | None = None,
) -> TargetReport:
    """Evaluate every indicator of ``registry`` over the subtree of ``unit_code``.

    ``unit_code`` defaults to the root, ``registry`` to :func:`default_registry`, ``as_of`` to
    now (UTC). Unknown unit → :class:`~inventory.errors.NotFound`.

    >>> report = compute_report(session, unit_code="HN", registry=my_registry)
    >>> report.indicator("equipped_offices").failing[0].reasons[0].vi
    'không có máy in đang hoạt động'
    """
    svc = InventoryService(session)
    unit = svc.unit(unit_code) if unit_code else svc.root()
    when = as_of or utcnow()
    if when.tzinfo is None:
        raise ValueError("as_of must be timezone-aware")
    reg = registry if registry is not None else default_registry()
    owns_cache = _SCOPE_CACHE not in session.info
    if owns_cache:
        session.info[_SCOPE_CACHE] = {}
    try:
        results = [ind.evaluate(session, unit, as_of=when) for ind in reg.all()]
    finally:
        if owns_cache:
            session.info.pop(_SCOPE_CACHE, None)
    return TargetReport(unit_code=unit.code, unit_name=unit.name, as_of=when, indicators=results)


# -- snapshots: dated copies of a report, for quarter-to-quarter comparison ----------------------
def save_snapshot(
    session: Session, *, report: TargetReport, label: str | None = None, actor: str = "system"
) -> TargetSnapshot:
    """Store ``report`` as a :class:`~inventory.models.TargetSnapshot` (audited, flushed, not
    committed — the caller owns the transaction).

    >>> snap = save_snapshot(session, report=compute_report(session), label="Q3/2026")
    >>> snap.report["unit"]["code"]
    'TLD'
    """
    unit = InventoryService(session).unit(report.unit_code)
    snap = TargetSnapshot(
        unit_id=unit.id,
        as_of=report.as_of,
        label=nfc(label.strip()) if label else None,
        report=report.to_dict(),
    )
    session.add(snap)
    session.flush()
    audit(
        session,
        actor=actor,
        action="create",
        entity="target_snapshot",
        entity_key=str(snap.id),
        # The whole report is in the snapshot row; the audit keeps the headline numbers only.
        after={
            "unit": report.unit_code,
            "label": snap.label,
            "as_of": report.as_of.isoformat(),
            "indicators": {i.id: [i.numerator, i.denominator, i.met] for i in report.indicators},
        },
        unit_path=unit.path,
    )
    return snap


def list_snapshots(session: Session, *, unit_code: str | None = None) -> list[TargetSnapshot]:
    """Snapshots, newest first (only those of ``unit_code`` when given)."""
    query = select(TargetSnapshot).order_by(TargetSnapshot.as_of.desc(), TargetSnapshot.id.desc())
    if unit_code:
        query = query.where(TargetSnapshot.unit_id == InventoryService(session).unit(unit_code).id)
    return list(session.scalars(query))


def get_snapshot(session: Session, ref: str) -> TargetSnapshot:
    """A snapshot by id (``"12"``) or by label (``"Q3/2026"``; the newest with that label)."""
    snap = session.get(TargetSnapshot, int(ref)) if ref.strip().isdigit() else None
    if snap is None:
        snap = session.scalar(
            select(TargetSnapshot)
            .where(TargetSnapshot.label == nfc(ref.strip()))
            .order_by(TargetSnapshot.as_of.desc(), TargetSnapshot.id.desc())
            .limit(1)
        )
    if snap is None:
        raise NotFound(
            f"Không có bản chụp chỉ tiêu {ref!r} / no target snapshot {ref!r}",
            hint="list them with `tldops targets snapshots`",
        )
    return snap


@dataclass(frozen=True)
class IndicatorChange:
    """How one indicator moved between two reports (``None`` values: not computable there)."""

    id: str
    title: str
    title_en: str
    before: IndicatorResult | None
    after: IndicatorResult | None
    newly_passing: tuple[str, ...]  # codes failing before, not failing after
    newly_failing: tuple[str, ...]  # codes failing after, not failing before

    @property
    def delta(self) -> float | None:
        """Change of ``value`` (after − before), None if either side has no value."""
        if self.before is None or self.after is None:
            return None
        if self.before.value is None or self.after.value is None:
            return None
        return self.after.value - self.before.value

    def to_dict(self) -> dict[str, Any]:
        def side(r: IndicatorResult | None) -> dict[str, Any] | None:
            if r is None:
                return None
            return {
                "numerator": r.numerator,
                "denominator": r.denominator,
                "value": r.value,
                "met": r.met,
            }

        return {
            "id": self.id,
            "title": self.title,
            "title_en": self.title_en,
            "before": side(self.before),
            "after": side(self.after),
            "delta": self.delta,
            "newly_passing": list(self.newly_passing),
            "newly_failing": list(self.newly_failing),
        }


def compare_reports(before: TargetReport, after: TargetReport) -> list[IndicatorChange]:
    """Per indicator (in ``after``'s order, then any only in ``before``): the value change and
    which units/officers newly pass or newly fail.

    >>> [c.newly_passing for c in compare_reports(q2, q3) if c.id == "equipped_offices"]
    [('HN-BD',)]
    """
    old = {i.id: i for i in before.indicators}
    new = {i.id: i for i in after.indicators}
    changes = []
    for ind_id in [*new, *(k for k in old if k not in new)]:
        a, b = old.get(ind_id), new.get(ind_id)
        ref = b or a
        assert ref is not None
        failing_a = {f.code for f in a.failing} if a else set()
        failing_b = {f.code for f in b.failing} if b else set()
        changes.append(
            IndicatorChange(
                id=ind_id,
                title=ref.title,
                title_en=ref.title_en,
                before=a,
                after=b,
                newly_passing=tuple(sorted(failing_a - failing_b)) if a and b else (),
                newly_failing=tuple(sorted(failing_b - failing_a)) if a and b else (),
            )
        )
    return changes

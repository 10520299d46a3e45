"""Bootstrap data: the first admin account and a small demo community (used by `make run` and the CLI)."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from chalicelib import deps
from chalicelib.domain import passwords
from chalicelib.domain.directory import NewOwner, NewStaffUser, NewUnit
from chalicelib.domain.ids import iso, new_id, utcnow
from chalicelib.domain.model import Account, Principal
from chalicelib.errors import Conflict

ADMIN_ACCOUNT = "admin"
ADMIN_PHONE = "+8613800000000"


def create_admin(password: str, *, account: str = ADMIN_ACCOUNT, phone: str = ADMIN_PHONE, name: str = "管理员",
                 must_change: bool = False) -> Account | None:
    """Create an admin account with a chosen password; None if the account name or phone is taken."""
    # API.md §12 fixes the local default `local-admin-pass`, which contains the account name `admin`;
    # the bootstrap therefore checks length, common lists and phone, but not the account-name rule.
    passwords.check_policy(password, phone=phone)
    admin = Account(user_id=new_id("u"), account=account, name=name, phone=phone, role="admin",
                    password_hash=passwords.hash_password(password), created_at=iso(utcnow()),
                    must_change_password=must_change)
    try:
        deps.accounts().create(admin)
    except Conflict:
        return None
    return admin


def _as_principal(account: Account) -> Principal:
    return Principal(account.user_id, account.role, "seed", account.community_ids, account.unit_ids, False)


@dataclass
class DemoCommunity:
    community_id: str
    building_ids: list[str] = field(default_factory=list)
    unit_ids: list[str] = field(default_factory=list)
    logins: list[tuple[str, str, str]] = field(default_factory=list)  # (role, account, password)


DEMO_UNITS = [  # (building index, unit_no, floor, area, layout)
    (0, "101", 1, "89.56", "3室2厅1卫"), (0, "102", 1, "76.20", "2室2厅1卫"), (0, "201", 2, "120.35", "4室2厅2卫"),
    (1, "101", 1, "65.80", "2室1厅1卫"), (1, "102", 1, "89.56", "3室2厅1卫"), (1, "301", 3, "143.00", "4室2厅2卫"),
]
DEMO_OWNERS = [("张伟", "+8613900000001", "zhangwei", [0, 1]), ("李娜", "+8613900000002", "lina", [3])]


def seed_demo(admin: Account) -> DemoCommunity:
    """One community, two buildings, six units, two owners, a staff member and a technician."""
    directory = deps.directory()
    caller = _as_principal(admin)
    community = directory.create_community(caller, "阳光花园", "上海市浦东新区阳光路88号", "Asia/Shanghai")
    demo = DemoCommunity(community.community_id)
    for name in ("1号楼", "2号楼"):
        demo.building_ids.append(directory.create_building(caller, community.community_id, name).building_id)
    for building, unit_no, floor, area, layout in DEMO_UNITS:
        unit = directory.create_unit(caller, NewUnit(community.community_id, demo.building_ids[building], unit_no,
                                                     floor, Decimal(area), layout))
        demo.unit_ids.append(unit.unit_id)
    for name, phone, account, units in DEMO_OWNERS:
        issued = directory.create_owner(caller, NewOwner(name, phone, tuple(demo.unit_ids[i] for i in units), account))
        demo.logins.append(("owner", account, _settle_password(issued.account)))
    for name, phone, account, role in (("王芳", "+8613900000011", "staff01", "staff"),
                                       ("刘强", "+8613900000021", "tech01", "technician")):
        issued = directory.create_user(caller, NewStaffUser(name, phone, role, account,  # type: ignore[arg-type]
                                                            (community.community_id,)))
        demo.logins.append((role, account, _settle_password(issued.account)))
    _seed_fee_schedule(caller, community.community_id)
    return demo


def _seed_fee_schedule(caller: Principal, community_id: str) -> None:
    """The demo community's fees (API.md §6), so a billing run can be started at once."""
    from chalicelib.domain.billing import FeeSchedule, PropertyItem

    items = (PropertyItem("cleaning", "保洁费", 80), PropertyItem("security", "保安费", 55),
             PropertyItem("greening", "绿化费", 30), PropertyItem("elevator", "电梯运行费", 45))
    deps.billing().set_fee_schedule(caller, FeeSchedule(community_id, items, 450, 62, 15))


def _settle_password(account: Account) -> str:
    """Demo accounts get a printed password without the forced change, so the demo starts at the home screen."""
    password = passwords.generate_initial_password()
    deps.accounts().set_password(account.user_id, passwords.hash_password(password), must_change=False)
    return password

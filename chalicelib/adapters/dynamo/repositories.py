"""DynamoDB repositories of the platform: model ↔ domain conversion and conditional writes → domain errors."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from pynamodb.connection import Connection
from pynamodb.exceptions import DoesNotExist, TransactWriteError, UpdateError
from pynamodb.transactions import TransactWrite

from chalicelib.adapters.dynamo.base import SharedClientConnection, is_conditional_failure, save_once
from chalicelib.adapters.dynamo.models import (
    AccountModel,
    AuditEventModel,
    BuildingModel,
    CommunityModel,
    SessionModel,
    UniqueKeyModel,
    UnitModel,
    UnitSummary,
)
from chalicelib.domain.ids import new_id
from chalicelib.domain.model import Account, AuditEvent, Building, Community, Session, Unit, UnitView
from chalicelib.domain.ports import Page
from chalicelib.errors import Conflict, NotFound

_connection: Connection | None = None


def connection() -> Connection:
    """The PynamoDB connection used for transactions: the container's one DynamoDB client, like every model's
    (built lazily, reused across invocations)."""
    global _connection
    if _connection is None:
        _connection = SharedClientConnection(region=AccountModel.Meta.region)
    return _connection


def account_key(name: str) -> str:
    return f"account#{name.strip().lower()}"


def phone_key(phone: str) -> str:
    return f"phone#{phone}"


# -- accounts -------------------------------------------------------------------------------------


def _unit_view(summary: UnitSummary) -> UnitView:
    return UnitView(summary.unit_id, summary.community_id, summary.community_name, summary.building_id,
                    summary.building_name, summary.unit_no, summary.floor, Decimal(summary.area_m2), summary.layout)


def _summary(view: UnitView) -> UnitSummary:
    return UnitSummary(unit_id=view.unit_id, community_id=view.community_id, community_name=view.community_name,
                       building_id=view.building_id, building_name=view.building_name, unit_no=view.unit_no,
                       floor=view.floor, area_m2=str(view.area_m2), layout=view.layout)


def notification_prefs(m: AccountModel) -> dict[str, bool]:
    """The account's SMS preferences as a plain dict (absent keys mean "yes")."""
    prefs = m.notification_prefs
    return dict(prefs.as_dict() if hasattr(prefs, "as_dict") else (prefs or {}))


def account_from_model(m: AccountModel) -> Account:
    return Account(
        user_id=m.user_id, account=m.account, name=m.name, phone=m.phone, role=m.role,  # type: ignore[arg-type]
        password_hash=m.password_hash, created_at=m.created_at, email=m.email,
        must_change_password=bool(m.must_change_password), community_ids=frozenset(m.community_ids or ()),
        units=[_unit_view(u) for u in (m.units or [])], tags=frozenset(m.tags or ()),
        notification_prefs=notification_prefs(m),
        failed_logins=m.failed_logins or 0,
        locked_until=int(m.locked_until) if m.locked_until is not None else None,
        totp_secret=m.totp_secret, totp_pending_secret=m.totp_pending_secret, totp_last_step=m.totp_last_step,
        devices_valid_after=int(m.devices_valid_after) if m.devices_valid_after is not None else None,
    )


_NO_ACCOUNT = "u_none"  # never issued (ids are `u_` + random): the stand-in read for an unknown login


class DynamoAccounts:
    def get(self, user_id: str) -> Account | None:
        try:
            return account_from_model(AccountModel.get(user_id))
        except DoesNotExist:
            return None

    def get_by_login(self, login: str) -> Account | None:
        """Two reads whether or not the login exists, so the time taken does not tell (API.md §3)."""
        key = phone_key(login) if login.startswith("+") else account_key(login)
        try:
            claim = UniqueKeyModel.get(key)
        except DoesNotExist:
            self.get(_NO_ACCOUNT)
            return None
        return self.get(claim.owner_id)

    def create(self, account: Account) -> None:
        model = AccountModel(
            user_id=account.user_id, account=account.account, name=account.name, phone=account.phone,
            email=account.email, role=account.role, password_hash=account.password_hash,
            must_change_password=account.must_change_password, community_ids=set(account.community_ids) or None,
            units=[_summary(u) for u in account.units], tags=set(account.tags) or None,
            notification_prefs=account.notification_prefs, created_at=account.created_at,
        )
        claims = [(UniqueKeyModel(account_key(account.account), owner_id=account.user_id), "account"),
                  (UniqueKeyModel(phone_key(account.phone), owner_id=account.user_id), "phone")]
        try:
            with TransactWrite(connection=connection()) as tx:
                tx.save(model, condition=AccountModel.user_id.does_not_exist())
                for claim, _ in claims:
                    tx.save(claim, condition=UniqueKeyModel.key.does_not_exist())
                for unit in account.units:
                    tx.update(UnitModel(unit.unit_id), actions=[UnitModel.owner_ids.add({account.user_id})],
                              condition=UnitModel.unit_id.exists())
        except TransactWriteError as error:
            if not is_conditional_failure(error):
                raise
            reasons = error.cancellation_reasons or []
            taken = [field for i, (_, field) in enumerate(claims, start=1)
                     if i < len(reasons) and reasons[i] is not None and reasons[i].code == "ConditionalCheckFailed"]
            if taken:
                raise Conflict(f"The {' and '.join(taken)} is already in use.", details={"fields": taken}) from None
            raise NotFound("A unit was not found.") from None
        if account.units:
            # Bills made while a unit had no owner become its new owners' (never those of a former owner).
            from chalicelib.adapters.dynamo.billing import attach_unowned_bills

            for unit in account.units:
                attach_unowned_bills(unit.unit_id)

    def phone_taken(self, phone: str) -> bool:
        try:
            UniqueKeyModel.get(phone_key(phone))
        except DoesNotExist:
            return False
        return True

    def change_phone(self, user_id: str, old_phone: str, new_phone: str) -> None:
        """Move the account to a new phone: claim the new number, release the old one, in one transaction."""
        try:
            with TransactWrite(connection=connection()) as tx:
                tx.save(UniqueKeyModel(phone_key(new_phone), owner_id=user_id),
                        condition=UniqueKeyModel.key.does_not_exist())
                tx.delete(UniqueKeyModel(phone_key(old_phone)), condition=UniqueKeyModel.owner_id == user_id)
                tx.update(AccountModel(user_id), actions=[AccountModel.phone.set(new_phone)],
                          condition=AccountModel.phone == old_phone)
        except TransactWriteError as error:
            if is_conditional_failure(error):
                raise Conflict("The phone number is already in use.", details={"fields": ["new_phone"]}) from None
            raise

    def set_password(self, user_id: str, password_hash: str, must_change: bool) -> None:
        self._update(user_id, [AccountModel.password_hash.set(password_hash),
                               AccountModel.must_change_password.set(must_change)])

    def clear_lock(self, user_id: str) -> None:
        self._update(user_id, [AccountModel.failed_logins.set(0), AccountModel.locked_until.remove()])

    def distrust_devices(self, user_id: str, now: int) -> None:
        """Void every device trusted before `now` (they need the second factor again)."""
        self._update(user_id, [AccountModel.devices_valid_after.set(now)])

    @staticmethod
    def _update(user_id: str, actions: list[Any]) -> None:
        try:
            AccountModel(user_id).update(actions=actions, condition=AccountModel.user_id.exists())
        except UpdateError as error:
            if is_conditional_failure(error):
                raise NotFound() from None
            raise


# -- sessions -------------------------------------------------------------------------------------


class DynamoSessions:
    def create(self, session: Session) -> None:
        model = SessionModel(
            session_id=session.session_id, user_id=session.user_id, role=session.role,
            community_ids=set(session.community_ids) or None, unit_ids=set(session.unit_ids) or None,
            must_change_password=session.must_change_password, refresh_hash=session.refresh_hash,
            rotated_hashes=[], revoked=False, created_at=session.created_at, expires_at=session.expires_at,
            ttl=datetime.fromtimestamp(session.expires_at + 86400, tz=UTC),
        )
        save_once(model, SessionModel.session_id.does_not_exist())

    def get(self, session_id: str) -> Session | None:
        try:
            m = SessionModel.get(session_id, consistent_read=True)
        except DoesNotExist:
            return None
        return Session(
            session_id=m.session_id, user_id=m.user_id, role=m.role,  # type: ignore[arg-type]
            refresh_hash=m.refresh_hash, created_at=m.created_at, expires_at=int(m.expires_at),
            community_ids=frozenset(m.community_ids or ()), unit_ids=frozenset(m.unit_ids or ()),
            must_change_password=bool(m.must_change_password), rotated_hashes=list(m.rotated_hashes or []),
            revoked=bool(m.revoked),
        )

    def rotate(self, session_id: str, old_hash: str, new_hash: str, rotated_hashes: list[str]) -> bool:
        try:
            SessionModel(session_id).update(
                actions=[SessionModel.refresh_hash.set(new_hash), SessionModel.rotated_hashes.set(rotated_hashes)],
                condition=(SessionModel.refresh_hash == old_hash) & (SessionModel.revoked == False),  # noqa: E712
            )
        except UpdateError as error:
            if is_conditional_failure(error):
                return False
            raise
        return True

    def revoke(self, session_id: str) -> None:
        try:
            SessionModel(session_id).update(actions=[SessionModel.revoked.set(True)],
                                            condition=SessionModel.session_id.exists())
        except UpdateError as error:
            if not is_conditional_failure(error):
                raise

    def revoke_all(self, user_id: str, keep: str | None = None) -> int:
        revoked = 0
        for item in SessionModel.by_user.query(user_id):
            if item.session_id != keep:
                self.revoke(item.session_id)
                revoked += 1
        return revoked

    def set_must_change(self, session_id: str, value: bool) -> None:
        try:
            SessionModel(session_id).update(actions=[SessionModel.must_change_password.set(value)],
                                            condition=SessionModel.session_id.exists())
        except UpdateError as error:
            if not is_conditional_failure(error):
                raise


# -- community structure ----------------------------------------------------------------------------


def _community(m: CommunityModel) -> Community:
    return Community(m.community_id, m.name, m.address, m.timezone, m.created_at)


def _unit(m: UnitModel) -> Unit:
    return Unit(m.unit_id, m.community_id, m.building_id, m.unit_no, m.floor, Decimal(m.area_m2), m.layout,
                m.created_at, frozenset(m.owner_ids or ()))




class DynamoCommunities:
    def create_community(self, community: Community) -> None:
        save_once(CommunityModel(community.community_id, name=community.name, address=community.address,
                                 timezone=community.timezone, created_at=community.created_at),
                  CommunityModel.community_id.does_not_exist())

    def get_community(self, community_id: str) -> Community | None:
        try:
            return _community(CommunityModel.get(community_id))
        except DoesNotExist:
            return None

    def get_communities(self, community_ids: set[str]) -> dict[str, Community]:
        if not community_ids:
            return {}
        return {m.community_id: _community(m) for m in CommunityModel.batch_get(list(community_ids))}

    def all_community_ids(self) -> list[str]:
        """Every community id (the scheduled jobs that work per community); one index query, no scan."""
        return [m.community_id for m in CommunityModel.all_communities.query("community")]

    def create_building(self, building: Building) -> None:
        save_once(BuildingModel(building.community_id, building.building_id, name=building.name,
                                created_at=building.created_at), BuildingModel.building_id.does_not_exist())

    def get_building(self, community_id: str, building_id: str) -> Building | None:
        try:
            m = BuildingModel.get(community_id, building_id)
        except DoesNotExist:
            return None
        return Building(m.building_id, m.community_id, m.name, m.created_at)

    def create_unit(self, unit: Unit) -> None:
        claim = UniqueKeyModel(f"unit#{unit.building_id}#{unit.unit_no.lower()}", owner_id=unit.unit_id)
        model = UnitModel(unit.unit_id, community_id=unit.community_id, building_id=unit.building_id,
                          building_unit=f"{unit.building_id}#{unit.unit_no}", unit_no=unit.unit_no,
                          floor=unit.floor, area_m2=str(unit.area_m2), layout=unit.layout, created_at=unit.created_at)
        try:
            with TransactWrite(connection=connection()) as tx:
                tx.save(claim, condition=UniqueKeyModel.key.does_not_exist())
                tx.save(model, condition=UnitModel.unit_id.does_not_exist())
        except TransactWriteError as error:
            if is_conditional_failure(error):
                raise Conflict("The building already has a unit with this number.",
                               details={"fields": ["unit_no"]}) from None
            raise

    def get_units(self, unit_ids: set[str]) -> dict[str, Unit]:
        if not unit_ids:
            return {}
        return {m.unit_id: _unit(m) for m in UnitModel.batch_get(list(unit_ids))}

    def list_units(self, community_id: str, building_id: str | None, limit: int,
                   start: dict[str, Any] | None) -> Page[Unit]:
        condition = UnitModel.building_unit.startswith(f"{building_id}#") if building_id else None
        result = UnitModel.by_community.query(community_id, range_key_condition=condition, limit=limit,
                                              last_evaluated_key=start)
        items = [_unit(m) for m in result]
        return Page(items, result.last_evaluated_key if len(items) == limit else None)


# -- audit ----------------------------------------------------------------------------------------


class DynamoAuditLog:
    def record(self, event: AuditEvent) -> None:
        AuditEventModel(event.user_id, f"{event.at}#{new_id('e')}", at=event.at, action=event.action,
                        summary=event.summary, ref=event.ref).save()

    def list(self, user_id: str, limit: int, start: dict[str, Any] | None) -> Page[AuditEvent]:
        result = AuditEventModel.query(user_id, scan_index_forward=False, limit=limit, last_evaluated_key=start)
        items = [AuditEvent(m.user_id, m.at, m.action, m.summary, m.ref) for m in result]
        return Page(items, result.last_evaluated_key if len(items) == limit else None)

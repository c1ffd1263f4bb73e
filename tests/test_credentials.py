"""Local accounts: argon2 passwords, the password policy, RFC 6238 TOTP, the lock-out rule,
and the session service on both engines (real store, real writer, injected clock)."""

from __future__ import annotations

import base64
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from argon2 import PasswordHasher

from kruispunt.access.credentials import (
    LockoutPolicy,
    LockoutState,
    hash_password,
    hotp,
    needs_rehash,
    new_totp_secret,
    password_problems,
    provisioning_uri,
    totp,
    totp_step,
    verify_password,
    verify_totp,
)
from kruispunt.access.principals import Principal, Role, User
from kruispunt.access.sessions import (
    AccountLocked,
    AccountStatus,
    LoginFailed,
    PasswordRejected,
    SessionService,
    TotpInvalid,
    TotpRequired,
)
from kruispunt.access.users import UserForbidden, UserService
from kruispunt.audit import read_audit, verify_chain
from kruispunt.store.sql import SqlStore
from kruispunt.tokens import hash_token
from kruispunt.writer import Writer

US = 1_000_000
T0 = 1_790_000_000 * US
MINUTE = 60 * US

# -- TOTP: RFC 6238 Appendix B, RFC 4226 Appendix D ------------------------------------------

SEEDS = {
    "sha1": b"12345678901234567890",
    "sha256": b"12345678901234567890123456789012",
    "sha512": b"1234567890123456789012345678901234567890123456789012345678901234",
}
RFC6238 = [
    (59, "94287082", "46119246", "90693936"),
    (1111111109, "07081804", "68084774", "25091201"),
    (1111111111, "14050471", "67062674", "99943326"),
    (1234567890, "89005924", "91819424", "93441116"),
    (2000000000, "69279037", "90698825", "38618901"),
    (20000000000, "65353130", "77737706", "47863826"),
]
RFC4226 = ["755224", "287082", "359152", "969429", "338314",
           "254676", "287922", "162583", "399871", "520489"]  # fmt: skip
RFC_SECRET = base64.b32encode(SEEDS["sha1"]).decode()


@pytest.mark.parametrize(("at_s", "sha1", "sha256", "sha512"), RFC6238)
def test_totp_matches_the_rfc_6238_vectors(at_s: int, sha1: str, sha256: str, sha512: str) -> None:
    step = totp_step(at_s)
    for algorithm, expected in (("sha1", sha1), ("sha256", sha256), ("sha512", sha512)):
        assert hotp(SEEDS[algorithm], step, digits=8, algorithm=algorithm) == expected
    # What the apps show: the same SHA-1 value, 6 digits.
    assert totp(RFC_SECRET, at_s) == sha1[-6:]


def test_hotp_matches_the_rfc_4226_vectors() -> None:
    assert [hotp(SEEDS["sha1"], counter) for counter in range(10)] == RFC4226


def test_a_code_is_accepted_one_step_either_side_and_only_once() -> None:
    code = totp(RFC_SECRET, 59)  # step 1
    assert verify_totp(RFC_SECRET, code, at_s=59, last_step=None) == 1
    assert verify_totp(RFC_SECRET, code, at_s=30 * 2 + 1, last_step=None) == 1  # phone slow
    assert verify_totp(RFC_SECRET, code, at_s=0, last_step=None) == 1  # phone fast
    assert verify_totp(RFC_SECRET, code, at_s=30 * 3, last_step=None) is None  # too old
    # Replay: the step was used already (or a later one was).
    assert verify_totp(RFC_SECRET, code, at_s=59, last_step=1) is None
    assert verify_totp(RFC_SECRET, code, at_s=59, last_step=2) is None
    assert verify_totp(RFC_SECRET, code, at_s=59, last_step=0) == 1
    assert verify_totp(RFC_SECRET, code[:3] + " " + code[3:], at_s=59, last_step=None) == 1
    for wrong in ("", "12345", "1234567", "abcdef", "٢٨٧٠٨٢", f"{(int(code) + 1) % 10**6:06d}"):
        assert verify_totp(RFC_SECRET, wrong, at_s=59, last_step=None) is None


def test_new_secrets_and_the_provisioning_uri() -> None:
    secret = new_totp_secret()
    assert len(base64.b32decode(secret + "=" * (-len(secret) % 8))) == 20
    assert secret != new_totp_secret()
    assert verify_totp(secret.lower(), totp(secret, 1000), at_s=1000, last_step=None) == 33
    uri = provisioning_uri(secret, "jan.peeters@pz5364")
    parts = urllib.parse.urlsplit(uri)
    assert (parts.scheme, parts.netloc) == ("otpauth", "totp")
    assert urllib.parse.unquote(parts.path) == "/Kruispunt:jan.peeters@pz5364"
    query = dict(urllib.parse.parse_qsl(parts.query))
    assert query == {"secret": secret, "issuer": "Kruispunt", "algorithm": "SHA1",
                     "digits": "6", "period": "30"}  # fmt: skip


# -- passwords --------------------------------------------------------------------------------


def test_argon2_round_trip_and_rehash() -> None:
    stored = hash_password("Correct horse 42")
    assert stored.startswith("$argon2id$")
    assert "Correct horse" not in stored
    assert verify_password(stored, "Correct horse 42")
    assert not verify_password(stored, "Correct horse 43")
    assert not verify_password("not a hash", "Correct horse 42")
    assert hash_password("Correct horse 42") != stored  # salted
    assert not needs_rehash(stored)
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash("Correct horse 42")
    assert verify_password(weak, "Correct horse 42")
    assert needs_rehash(weak)
    assert needs_rehash("not a hash")
    # The same password typed with a composed or a decomposed accent.
    assert verify_password(hash_password("Crème brûlée 12"), "Cre\u0300me bru\u0302le\u0301e 12")


@pytest.mark.parametrize(
    ("password", "problem"),
    [
        ("Short1!", "at least 12"),
        ("alllowercaseletters", "two kinds"),
        ("123456789012345", "two kinds"),
        ("Password1234", "too common"),
        ("Wachtwoord2024!", "too common"),
        ("Kruispunt-2025", "too common"),
        ("abABabABabABab", "too repetitive"),
        ("x" * 1025 + "A", "at most"),
        ("jan.peeters-Secure9", "user id"),
    ],
)
def test_the_password_policy_refuses(password: str, problem: str) -> None:
    problems = password_problems(password, user_id="jan.peeters")
    assert any(problem in p for p in problems), problems
    assert all(password not in p for p in problems)


def test_the_password_policy_accepts_a_reasonable_password() -> None:
    assert password_problems("Ten tired zebras 4 ever", user_id="jan.peeters") == []
    assert password_problems("grüne-Ampel-am-Kreisel", user_id="op1") == []


# -- lock-out ---------------------------------------------------------------------------------


def test_five_failures_lock_for_ten_minutes_and_success_resets() -> None:
    policy = LockoutPolicy()
    state = LockoutState()
    for n in range(1, 5):
        state = policy.after_failure(state, T0)
        assert state.failures == n
        assert not policy.is_locked(state, T0)
    state = policy.after_failure(state, T0)
    assert policy.is_locked(state, T0)
    assert policy.is_locked(state, T0 + 600 * US - 1)
    assert policy.locked_for_s(state, T0 + 1) == 600
    # Failing while locked neither extends the lock nor counts.
    assert policy.after_failure(state, T0 + 300 * US) == state
    assert not policy.is_locked(state, T0 + 600 * US)
    assert policy.locked_for_s(state, T0 + 600 * US) == 0
    # After the lock: five fresh tries.
    again = policy.after_failure(state, T0 + 601 * US)
    assert again.failures == 1 and not policy.is_locked(again, T0 + 601 * US)
    # A success in between starts the count again.
    state = LockoutState()
    for _ in range(4):
        state = policy.after_failure(state, T0)
    state = policy.after_success(state)
    assert state == LockoutState()
    state = policy.after_failure(state, T0)
    assert state.failures == 1 and not policy.is_locked(state, T0)


# -- sessions on both engines -----------------------------------------------------------------

ROOT = Principal(user_id="root", zone_id="network", role=Role.ADMIN)
PASSWORD = "Ten tired zebras 4 ever"


@dataclass
class Clock:
    now: int = T0

    def __call__(self) -> int:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += int(seconds * US)


@dataclass
class World:
    store: SqlStore
    writer: Writer
    users: UserService
    sessions: SessionService
    clock: Clock

    def add_user(self, user_id: str, password: str | None = PASSWORD) -> User:
        user = User(id=user_id, name=f"User {user_id}", zone_id="pz5364", role=Role.OPERATOR)
        self.users.create(user, actor=ROOT)
        if password is not None:
            self.sessions.set_password(user_id, password, actor=ROOT)
        return user

    def flush(self) -> None:
        """Wait for what the service queued on the writer (last-use write-backs)."""
        self.writer.call(lambda _store: None).result()

    def audit(self) -> list[tuple[str, str, dict[str, object]]]:
        records = read_audit(self.store.reader())
        assert verify_chain(records) is None
        return [(r.action, r.object_id, r.detail) for r in records]

    def sessions_of(self, user_id: str) -> list[tuple[str, int]]:
        rows = self.store.reader().execute(
            "SELECT token_hash, last_seen_us FROM sessions WHERE user_id=? ORDER BY created_us",
            (user_id,),
        )
        return [(str(h), int(s)) for h, s in rows]


@pytest.fixture
def world(sql_store: SqlStore) -> Iterator[World]:
    writer = Writer(sql_store, max_pending_reads=10_000, group_max_reads=10_000)
    writer.start()
    clock = Clock()
    users = UserService(sql_store, writer)
    users.load()
    sessions = SessionService(sql_store, writer, clock=clock)
    yield World(sql_store, writer, users, sessions, clock)
    writer.stop()


def test_login_with_a_password_gives_a_session_kept_only_by_its_hash(world: World) -> None:
    world.add_user("op1")
    session = world.sessions.login("op1", PASSWORD, source_ip="10.0.0.7")
    expected = Principal(user_id="op1", zone_id="pz5364", role=Role.OPERATOR)
    assert session.principal == expected
    assert session.expires_us == T0 + 12 * 3600 * US
    assert world.sessions.principal_for_session(session.token) == expected
    assert world.sessions.principal_for_session(session.token + "x") is None
    assert world.sessions_of("op1") == [(hash_token(session.token), T0)]
    # A second login is a second session.
    other = world.sessions.login("op1", PASSWORD, source_ip="10.0.0.8")
    assert other.token != session.token
    assert len(world.sessions_of("op1")) == 2
    # The stored hash is argon2id, never the password.
    row = world.store.reader().execute("SELECT password_hash FROM credentials").fetchone()
    assert row[0].startswith("$argon2id$") and PASSWORD not in row[0]


def test_wrong_password_and_unknown_user_answer_alike(world: World) -> None:
    world.add_user("op1")
    world.add_user("nopw", password=None)
    refusals = []
    for user_id, password in (("op1", "wrong password 1"), ("ghost", PASSWORD),
                              ("nopw", PASSWORD)):  # fmt: skip
        with pytest.raises(LoginFailed) as caught:
            world.sessions.login(user_id, password, source_ip="10.0.0.7")
        refusals.append((caught.value.code, caught.value.status, caught.value.message))
    assert len(set(refusals)) == 1 and refusals[0][:2] == ("login_failed", 401)
    failed = [(obj, d["reason"]) for action, obj, d in world.audit() if action == "login.failed"]
    assert failed == [("op1", "password"), ("ghost", "unknown_user"), ("nopw", "no_password")]


def test_login_with_totp(world: World) -> None:
    world.add_user("op1")
    me = Principal(user_id="op1", zone_id="pz5364", role=Role.OPERATOR)
    secret = world.sessions.enrol_totp("op1", actor=me)
    # Pending until confirmed: the password alone still signs in.
    assert world.sessions.status("op1").totp_pending  # type: ignore[union-attr]
    world.sessions.login("op1", PASSWORD, source_ip=None)
    with pytest.raises(TotpInvalid):
        world.sessions.confirm_totp("op1", "000000" if totp(secret, T0 // US) != "000000" else "1")
    confirm_code = totp(secret, T0 // US)
    world.sessions.confirm_totp("op1", confirm_code)
    status = world.sessions.status("op1")
    assert status is not None and status.totp_enrolled and not status.totp_pending
    with pytest.raises(TotpInvalid, match="no TOTP enrolment"):
        world.sessions.confirm_totp("op1", confirm_code)

    with pytest.raises(TotpRequired):
        world.sessions.login("op1", PASSWORD, source_ip="10.0.0.7")
    # The code that confirmed the enrolment was used: it cannot sign in.
    with pytest.raises(LoginFailed) as caught:
        world.sessions.login("op1", PASSWORD, confirm_code, source_ip="10.0.0.7")
    assert caught.value.reason == "totp_replayed"

    world.clock.advance(30)
    code = totp(secret, world.clock.now // US)
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    with pytest.raises(LoginFailed) as caught:
        world.sessions.login("op1", PASSWORD, wrong, source_ip="10.0.0.7")
    assert caught.value.reason == "totp_wrong"
    # A right code with a wrong password is refused as a wrong password.
    with pytest.raises(LoginFailed) as caught:
        world.sessions.login("op1", "wrong password 1", code, source_ip="10.0.0.7")
    assert caught.value.reason == "password"
    session = world.sessions.login("op1", PASSWORD, code, source_ip="10.0.0.7")
    assert world.sessions.principal_for_session(session.token) == me
    # The same code again, even within its 30 seconds: refused, and counted.
    with pytest.raises(LoginFailed) as caught:
        world.sessions.login("op1", PASSWORD, code, source_ip="10.0.0.9")
    assert caught.value.reason == "totp_replayed"
    assert world.sessions.status("op1").failures == 1  # type: ignore[union-attr]
    # The next step's code works, and resets the count.
    world.clock.advance(30)
    world.sessions.login("op1", PASSWORD, totp(secret, world.clock.now // US), source_ip=None)
    assert world.sessions.status("op1").failures == 0  # type: ignore[union-attr]

    # Removing the second factor is for an admin (lost phone), not for a stolen session.
    with pytest.raises(UserForbidden):
        world.sessions.disable_totp("op1", actor=me)
    world.sessions.disable_totp("op1", actor=ROOT)
    world.sessions.login("op1", PASSWORD, source_ip=None)

    logins = [d for action, _, d in world.audit() if action == "login"]
    assert [d["second_factor"] for d in logins] == [None, "totp", "totp", None]
    for action, _, detail in world.audit():
        text = repr(detail)
        assert secret not in text and PASSWORD not in text and code not in text, action


def test_a_locked_account_refuses_even_the_right_password_until_the_lock_lifts(
    world: World,
) -> None:
    world.add_user("op1")
    for n in range(5):
        with pytest.raises(LoginFailed) as caught:
            world.sessions.login("op1", f"wrong password {n}", source_ip="203.0.113.5")
        assert caught.value.reason == "password"
    status = world.sessions.status("op1")
    assert status is not None and status.locked_until_us == T0 + 600 * US

    world.clock.advance(599)
    with pytest.raises(AccountLocked) as locked:
        world.sessions.login("op1", PASSWORD, source_ip="10.0.0.7")
    assert locked.value.retry_after_s == 1
    assert (locked.value.code, locked.value.status) == ("login_failed", 401)
    world.clock.advance(1)
    session = world.sessions.login("op1", PASSWORD, source_ip="10.0.0.7")
    assert world.sessions.principal_for_session(session.token) is not None
    assert world.sessions.status("op1") == AccountStatus(
        has_password=True, totp_enrolled=False, totp_pending=False, failures=0, locked_until_us=0
    )

    audit = world.audit()
    actions = [action for action, _, _ in audit if action.startswith("login")]
    assert actions == ["login.failed"] * 5 + ["login.locked", "login.failed", "login"]
    locked_detail = next(d for action, _, d in audit if action == "login.locked")
    assert locked_detail == {"source_ip": "203.0.113.5", "locked_until_us": T0 + 600 * US,
                             "lock_s": 600}  # fmt: skip
    reasons = [d.get("reason") for action, _, d in audit if action == "login.failed"]
    assert reasons == ["password"] * 5 + ["locked"]


def test_an_admin_setting_the_password_lifts_the_lock(world: World) -> None:
    world.add_user("op1")
    for n in range(5):
        with pytest.raises(LoginFailed):
            world.sessions.login("op1", f"wrong password {n}", source_ip=None)
    world.sessions.set_password("op1", "A brand new 2nd password", actor=ROOT)
    world.sessions.login("op1", "A brand new 2nd password", source_ip=None)


def test_a_session_ends_when_idle(world: World) -> None:
    world.add_user("op1")
    session = world.sessions.login("op1", PASSWORD, source_ip=None)
    digest = hash_token(session.token)
    # Used within the minute: nothing is written back.
    world.clock.advance(30)
    assert world.sessions.principal_for_session(session.token) is not None
    world.flush()
    assert world.sessions_of("op1") == [(digest, T0)]
    # Used later: the last use is written back (off the request's path).
    world.clock.advance(14 * 60)
    assert world.sessions.principal_for_session(session.token) is not None
    world.flush()
    assert world.sessions_of("op1") == [(digest, world.clock.now)]
    # Idle for 15 minutes since: ended.
    world.clock.advance(15 * 60 - 1)
    assert world.sessions.principal_for_session(session.token) is not None
    world.flush()
    world.clock.advance(15 * 60)
    assert world.sessions.principal_for_session(session.token) is None
    assert world.sessions.expire_idle() == 1
    assert world.sessions_of("op1") == []


def test_a_session_ends_after_twelve_hours_however_busy(world: World) -> None:
    world.add_user("op1")
    session = world.sessions.login("op1", PASSWORD, source_ip=None)
    kept_idle = world.sessions.login("op1", PASSWORD, source_ip=None)
    for _ in range(12 * 6 - 1):  # used every ten minutes
        world.clock.advance(600)
        assert world.sessions.principal_for_session(session.token) is not None
        world.flush()
    assert world.sessions.principal_for_session(kept_idle.token) is None
    assert world.sessions.expire_idle() == 1
    world.clock.advance(600)
    assert world.clock.now == session.expires_us
    assert world.sessions.principal_for_session(session.token) is None
    assert world.sessions.expire_idle() == 1


def test_logout_and_deactivation_end_sessions(world: World) -> None:
    world.add_user("op1")
    world.add_user("op2")
    session = world.sessions.login("op1", PASSWORD, source_ip=None)
    assert world.sessions.logout(session.token)
    assert world.sessions.principal_for_session(session.token) is None
    assert not world.sessions.logout(session.token)
    other = world.sessions.login("op2", PASSWORD, source_ip=None)
    world.users.deactivate("op2", actor=ROOT)
    assert world.sessions.principal_for_session(other.token) is None
    with pytest.raises(LoginFailed) as caught:
        world.sessions.login("op2", PASSWORD, source_ip=None)
    assert caught.value.reason == "user_inactive"
    assert ("logout", "op1", {}) in world.audit()


def test_set_password_checks_the_policy_and_ends_the_other_sessions(world: World) -> None:
    world.add_user("op1")
    world.add_user("op2")
    me = Principal(user_id="op1", zone_id="pz5364", role=Role.OPERATOR)
    with pytest.raises(PasswordRejected) as rejected:
        world.sessions.set_password("op1", "password1234", actor=me)
    assert rejected.value.code == "weak_password" and rejected.value.problems
    with pytest.raises(UserForbidden):
        world.sessions.set_password("op2", "Another good 1 here", actor=me)
    here = world.sessions.login("op1", PASSWORD, source_ip=None)
    there = world.sessions.login("op1", PASSWORD, source_ip=None)
    assert world.sessions.check_password("op1", PASSWORD)
    world.sessions.set_password("op1", "Another good 1 here", actor=me, keep_token=here.token)
    assert not world.sessions.check_password("op1", PASSWORD)
    assert world.sessions.principal_for_session(here.token) == me
    assert world.sessions.principal_for_session(there.token) is None
    with pytest.raises(LoginFailed):
        world.sessions.login("op1", PASSWORD, source_ip=None)
    world.sessions.login("op1", "Another good 1 here", source_ip=None)
    assert world.sessions.end_sessions("op1", actor=ROOT) == 2
    passwords = [d for action, _, d in world.audit() if action == "user.password"]
    assert passwords[-1] == {"sessions_ended": 1}

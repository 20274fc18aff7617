"""Staff accounts: argon2 hashes, tokens stored as digests, sessions, the sign-in limiter."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from checkin.db import transaction
from checkin.staff import (
    ApiToken,
    Credentials,
    LocalAuthenticator,
    Role,
    StaffSession,
    create_api_token,
    create_user,
    resume_session,
    start_session,
    user_for_token,
)
from checkin.web.auth import SignInLimiter


async def test_password_is_an_argon2_hash_and_checks(sessions):
    async with transaction(sessions) as db:
        user = await create_user(session=db, email=" Guard@Example.com ", role=Role.SECURITY,
                                 password="correct horse battery")
    assert user.email == "guard@example.com"
    assert user.password_hash.startswith("$argon2id$")
    auth = LocalAuthenticator()
    async with transaction(sessions) as db:
        ok = await auth.authenticate(session=db, credentials=Credentials(
            "GUARD@example.com", "correct horse battery"))
        wrong = await auth.authenticate(session=db, credentials=Credentials(
            "guard@example.com", "nope nope nope"))
        nobody = await auth.authenticate(session=db, credentials=Credentials(
            "who@example.com", "correct horse battery"))
    assert ok is not None and wrong is None and nobody is None


async def test_duplicate_and_short_passwords_are_refused(sessions):
    async with transaction(sessions) as db:
        await create_user(session=db, email="a@example.com", role=Role.ADMIN,
                          password="long enough pw")
        with pytest.raises(ValueError):
            await create_user(session=db, email="A@example.com", role=Role.ADMIN,
                              password="long enough pw")
        with pytest.raises(ValueError):
            await create_user(session=db, email="b@example.com", role=Role.ADMIN, password="short")


async def test_tokens_and_sessions_are_stored_as_digests(sessions):
    async with transaction(sessions) as db:
        user = await create_user(session=db, email="f@example.com", role=Role.FACILITIES,
                                 password="long enough pw")
        token = await create_api_token(session=db, user=user, name="grafana")
        cookie, _ = await start_session(session=db, user=user)
    async with transaction(sessions) as db:
        stored = (await db.scalars(select(ApiToken.digest))).all()
        session_keys = (await db.scalars(select(StaffSession.digest))).all()
        assert token not in stored and cookie not in session_keys
        assert (await user_for_token(session=db, token=token)).email == "f@example.com"
        assert await user_for_token(session=db, token=token + "x") is None
        found = await resume_session(session=db, cookie=cookie)
        assert found is not None and found[0].may(Role.FACILITIES)
        assert not found[0].may(Role.SECURITY)


def test_sign_in_limiter_blocks_after_five_failures_and_forgets_after_the_window():
    now = [1000.0]
    limiter = SignInLimiter(attempts=5, window_s=300, clock=lambda: now[0])
    for _ in range(5):
        assert limiter.retry_after("ip:1", "user:a") == 0
        limiter.failed("ip:1", "user:a")
    assert limiter.retry_after("ip:1") == 301
    assert limiter.retry_after("ip:2", "user:a") > 0  # another address, same account
    now[0] += 301
    assert limiter.retry_after("ip:1", "user:a") == 0

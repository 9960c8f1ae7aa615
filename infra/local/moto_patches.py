"""Adapters for moto, loaded by moto_server.py: for DynamoDB, AWS's transaction limits, bounded
memory, and AWS's LastEvaluatedKey; for Cognito, password-reset codes as Cognito issues and
checks them, delivered to a local mailbox (see "Cognito: password-reset codes" below), a
global sign-out that finds the user by any of their names ("signing a user out everywhere"),
RevokeToken, which moto lacks ("RevokeToken"), a TOTP secret of each user's own ("TOTP
secrets"), the app client's secret checked on every call Cognito checks it on ("the app
client's secret"), sign-up with emailed confirmation codes ("sign-up confirmation codes"), and
each user's password history ("password history").

Limits. moto checks the 100 actions of a transaction and each item's size, but not the 4 MB
that AWS allows for the aggregate size of the items in one transaction; Quire's audit writer
relies on staying under it, so the emulator refuses larger transactions as AWS does
(`ValidationException`), and tests see what production would. The aggregate counts every item
a transaction touches at its stored or written size, whichever is larger (for a Delete or a
ConditionCheck, the stored item): the strict reading of the limit, so the emulator never
allows what AWS could refuse.

Memory.
moto 5.2 snapshots a transaction's tables with `copy.deepcopy` of the WHOLE table, once per
item of the transaction, stream history included, to roll back on failure. With Quire's
audit writer (up to 99 items per transaction) over a table of thousands of items, that is
quadratic in time and, since tables and their stream shards reference each other, lets
garbage pile up until the cycle collector runs: the emulator grew past 20 GB in the
16-writer audit test.

The adapter keeps moto's own transaction code and semantics, but snapshots only what a
transaction can change: the items it names (deep copies of those alone) and the length of
each table's stream. On failure it restores those items and drops the stream records the
failed transaction appended. Nothing changes on AWS, where none of this code runs.

LastEvaluatedKey. AWS returns one whenever a Query stops at its `Limit`, even when no item
follows ("the result set contains a LastEvaluatedKey ... if the limit is reached"); moto only
when another item follows. Quire relies on AWS's behaviour (a page that ends at the last item
must still say whether a next page exists), so the emulator returns it as AWS does.
"""

import base64
import copy
import hashlib
import json
import secrets
import time
from typing import Any

from cryptography.hazmat.primitives.twofactor import InvalidToken
from moto.cognitoidp.exceptions import (
    CodeMismatchException,
    ExpiredCodeException,
    InvalidParameterException,
    NotAuthorizedError,
    ResourceNotFoundError,
    UserNotConfirmedException,
)
from moto.cognitoidp.models import (
    CognitoIdpBackend,
    CognitoIdpUserPool,
    UserStatus,
    cognitoidp_backends,
    find_account_region_by_value,
    flatten_attrs,
)
from moto.cognitoidp.responses import CognitoIdpResponse
from moto.cognitoidp.utils import check_secret_hash, cognito_totp, verify_totp
from moto.core.exceptions import JsonRESTError
from moto.core.responses import ActionResult, EmptyResult

from moto.dynamodb.comparisons import OpDefault
from moto.dynamodb.exceptions import MockValidationException
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.models.table import Table

# AWS: "The aggregate size of the items in the transaction cannot exceed 4 MB."
TRANSACTION_MAX_BYTES = 4 * 1024 * 1024
TRANSACTION_MAX_ACTIONS = 100


class TransactionTooLarge(MockValidationException):
    def __init__(self, size: int) -> None:
        super().__init__(
            f"Transaction request cannot be larger than 4 MB (the items of this one are {size} bytes)"
        )


_original_transact_write_items = DynamoDBBackend.transact_write_items
_real_deepcopy = copy.deepcopy


def _key_of(table: Table, op: dict[str, Any]) -> tuple[DynamoType, DynamoType | None]:
    attributes = op.get("Key") or op.get("Item") or {}
    hash_key = DynamoType(attributes[table.hash_key_attr])
    range_key = DynamoType(attributes[table.range_key_attr]) if table.range_key_attr else None
    return hash_key, range_key


def _targets(backend: DynamoDBBackend, transact_items: list[dict[str, Any]]):
    """Each action's table, operation, key and currently stored item (None if absent); actions
    with an unknown table or a malformed key are left to moto's own validation."""
    for entry in transact_items:
        _, op = next(iter(entry.items()))
        table = backend.tables.get(op.get("TableName"))
        if table is None:
            continue
        try:
            hash_key, range_key = _key_of(table, op)
        except KeyError:
            continue
        current = table.get_item(hash_key, range_key) if (range_key is not None or not table.range_key_attr) else None
        yield table, op, hash_key, range_key, current


def _aggregate_size(backend: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> int:
    total = 0
    for _, op, hash_key, range_key, current in _targets(backend, transact_items):
        stored = current.size() if current is not None else 0
        written = Item(hash_key, range_key, op["Item"]).size() if "Item" in op else 0
        total += max(stored, written)
    return total


def _snapshot(backend: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> list[Any]:
    saved_items = []
    saved_streams = {}
    for table, _, hash_key, range_key, current in _targets(backend, transact_items):
        saved_items.append((table, hash_key, range_key, _real_deepcopy(current)))
        if table.stream_shard is not None:
            saved_streams.setdefault(id(table), (table.stream_shard, len(table.stream_shard.items)))
    return [saved_items, saved_streams]


def _restore(snapshot: list[Any]) -> None:
    saved_items, saved_streams = snapshot
    for table, hash_key, range_key, item in reversed(saved_items):
        if range_key is not None:
            partition = table.items[hash_key]
            if item is None:
                partition.pop(range_key, None)
            else:
                partition[range_key] = item
            if not partition:
                table.items.pop(hash_key, None)
        elif item is None:
            table.items.pop(hash_key, None)
        else:
            table.items[hash_key] = item
    for shard, length in saved_streams.values():
        del shard.items[length:]


def _no_table_copies(value: Any, memo: Any = None) -> Any:
    # moto's whole-table snapshot becomes the table itself; its rollback is then a no-op and
    # ours (above) does the work. Every other deepcopy is the real one.
    if isinstance(value, Table):
        return value
    return _real_deepcopy(value, memo)


def transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
    if len(transact_items) <= TRANSACTION_MAX_ACTIONS:  # moto reports the count itself
        size = _aggregate_size(self, transact_items)
        if size > TRANSACTION_MAX_BYTES:
            raise TransactionTooLarge(size)
    snapshot = _snapshot(self, transact_items)
    copy.deepcopy = _no_table_copies  # the server is single-threaded: no other request sees this
    try:
        _original_transact_write_items(self, transact_items)
    except Exception:
        _restore(snapshot)
        raise
    finally:
        copy.deepcopy = _real_deepcopy


_real_query = Table.query


def query(self: Table, *args: Any, **kwargs: Any) -> tuple[list[Item], int, dict[str, Any] | None]:
    results, scanned_count, last_evaluated_key = _real_query(self, *args, **kwargs)
    limit = args[3] if len(args) > 3 else kwargs.get("limit")
    index_name = args[7] if len(args) > 7 else kwargs.get("index_name")
    condition = args[9] if len(args) > 9 else kwargs.get("filter_expression")
    # No FilterExpression parses to moto's OpDefault (every item passes).
    filtered = condition is not None and not isinstance(condition, OpDefault)
    # With a filter the last result need not be the last item evaluated: left as moto has it.
    if last_evaluated_key is None and limit and not filtered and results and scanned_count >= limit:
        last_evaluated_key = self._get_last_evaluated_key(results[-1], index_name)
    return results, scanned_count, last_evaluated_key


def install(mailbox: str | None = None) -> None:
    DynamoDBBackend.transact_write_items = transact_write_items
    Table.query = query
    install_cognito(mailbox)


# --- Cognito: password-reset codes -------------------------------------------------------------
#
# On AWS, Cognito emails a 6-digit code that is valid for one hour and used once, and
# ConfirmForgotPassword refuses any other code (CodeMismatchException) and an old one
# (ExpiredCodeException); for an unknown user, with PreventUserExistenceErrors, it answers as for
# a wrong code. moto accepts any code that does not start with its own prefix, never expires
# one, and shows the code in a response header (and sends one to an unconfirmed user, whose
# email Cognito has not verified: Cognito refuses with InvalidParameterException, as the adapter
# does). The adapter issues a 6-digit code, keeps when it
# was issued, checks code, age and single use as Cognito does, and delivers the code to the local
# mailbox (a JSON-lines file, --mailbox) in place of the email: the product never sees it except
# through the person who reads the mail.

RESET_CODE_SECONDS = 60 * 60  # Cognito: "The code expires in 1 hour."
MAILBOX: str | None = None
_original_forgot_password = CognitoIdpBackend.forgot_password


def _deliver(to: str, kind: str, code: str) -> None:
    if MAILBOX is None:
        return
    line = json.dumps({"to": to, "kind": kind, "code": code, "at": time.time()})
    with open(MAILBOX, "a", encoding="utf-8") as mailbox:
        mailbox.write(line + "\n")


def _pool_user(backend: CognitoIdpBackend, client_id: str, username: str):
    for pool in backend.user_pools.values():
        if client_id in pool.clients:
            try:
                return pool, pool._get_user(username)
            except Exception:  # noqa: BLE001  (moto raises for an unknown user in some versions)
                return pool, None
    raise ResourceNotFoundError(client_id)


def forgot_password(self: CognitoIdpBackend, client_id: str, username: str):
    _, user = _pool_user(self, client_id, username)
    if user is not None and user.status == UserStatus.UNCONFIRMED:
        # Cognito sends reset codes to a verified email only; an unconfirmed user has none.
        raise InvalidParameterException(
            "Cannot reset password for the user as there is no registered/verified email or phone_number"
        )
    _, details = _original_forgot_password(self, client_id, username)
    if user is not None:
        code = f"{secrets.randbelow(1_000_000):06d}"
        user.confirmation_code = code
        user.quire_code_issued_at = time.time()
        email = flatten_attrs(user.attributes).get("email", username)
        _deliver(email, "password-reset", code)
    # The code is delivered by mail, never in the answer.
    return None, details


def confirm_forgot_password(
    self: CognitoIdpBackend, client_id: str, username: str, password: str, confirmation_code: str
) -> None:
    pool, user = _pool_user(self, client_id, username)
    issued = getattr(user, "quire_code_issued_at", None) if user is not None else None
    if user is None or user.confirmation_code is None or issued is None:
        raise CodeMismatchException("Invalid verification code provided, please try again.")
    if not secrets.compare_digest(str(user.confirmation_code), str(confirmation_code)):
        raise CodeMismatchException("Invalid verification code provided, please try again.")
    if time.time() - issued > RESET_CODE_SECONDS:
        user.confirmation_code = None
        raise ExpiredCodeException("Invalid code provided, please request a code again.")
    # Once the code is proved (see "password history" below); the code stays usable.
    _refuse_recent(pool, user, password)
    _password_history(user)
    user.password = password
    _remember_password(pool, user)
    user.confirmation_code = None
    user.quire_code_issued_at = None


# --- Cognito: signing a user out everywhere -------------------------------------------------------
#
# On AWS, AdminUserGlobalSignOut ends every refresh token of the user, whichever name (username,
# the `sub` when email is the username attribute, or an alias) the caller and the sign-ins used.
# moto compares the name passed with the name each sign-in used, character for character, so a
# sign-out by `sub` misses sign-ins made with the email. The adapter compares the users the names
# resolve to.


def _same_user(pool: CognitoIdpUserPool, a: str, b: str) -> bool:
    if a == b:
        return True
    try:
        return pool._get_user(a) is not None and pool._get_user(a) is pool._get_user(b)
    except Exception:  # noqa: BLE001  (moto raises for an unknown user in some versions)
        return False


def sign_out(self: CognitoIdpUserPool, username: str) -> None:
    for token, token_tuple in list(self.refresh_tokens.items()):
        if token_tuple is not None and _same_user(self, username, token_tuple[1]):
            self.refresh_tokens[token] = None
    for access_token, (_, signed_in) in list(self.access_tokens.items()):
        if _same_user(self, username, signed_in):
            self.access_tokens.pop(access_token)


# --- Cognito: RevokeToken ----------------------------------------------------------------------------
#
# On AWS, RevokeToken (client id, the client's secret, and refresh token)
# revokes the refresh token and the access tokens issued from it, which Cognito's own user APIs
# then refuse; a token already revoked is revoked still. moto has no RevokeToken. The adapter
# ends the refresh token in moto's own table and drops the access tokens whose `origin_jti` is
# the refresh token's, so `GetUser` and the like refuse them as Cognito does; a token that is
# no refresh token of the client is refused (UnsupportedTokenTypeException).


class UnauthorizedException(JsonRESTError):
    def __init__(self) -> None:
        super().__init__("UnauthorizedException", "Client authentication failed")


class UnsupportedTokenTypeException(JsonRESTError):
    def __init__(self) -> None:
        super().__init__("UnsupportedTokenTypeException", "Unsupported token type")


def _origin_jti(access_token: str) -> str | None:
    try:
        payload = access_token.split(".")[1]
        payload += "=" * (-len(payload) % 4)
        return json.loads(base64.urlsafe_b64decode(payload)).get("origin_jti")
    except Exception:  # noqa: BLE001  (not a JWT: no origin)
        return None


def revoke_token(self: CognitoIdpBackend, client_id: str, token: str, client_secret: str | None = None) -> None:
    for pool in self.user_pools.values():
        if client_id not in pool.clients:
            continue
        client = pool.clients[client_id]
        if client.generate_secret and not secrets.compare_digest(str(client_secret or ""), str(client.secret)):
            raise UnauthorizedException()
        if token not in pool.refresh_tokens:
            raise UnsupportedTokenTypeException()
        held = pool.refresh_tokens[token]
        if held is None:
            return  # revoked already
        if held[0] != client_id:
            raise UnsupportedTokenTypeException()
        origin = held[2]
        pool.refresh_tokens[token] = None
        for access_token in list(pool.access_tokens):
            if _origin_jti(access_token) == origin:
                pool.access_tokens.pop(access_token)
        return
    raise ResourceNotFoundError(client_id)


def _revoke_token_response(self: CognitoIdpResponse):
    self.backend.revoke_token(self._get_param("ClientId"), self._get_param("Token"), self._get_param("ClientSecret"))
    return EmptyResult()


# --- Cognito: TOTP secrets -----------------------------------------------------------------------
#
# On AWS, AssociateSoftwareToken makes a new random secret for each user, and VerifySoftwareToken
# and the SOFTWARE_TOKEN_MFA challenge check a code against that user's own secret (RFC 6238:
# SHA-1, 6 digits, 30-second steps), allowing for some clock drift. moto gives every user the
# same fixed secret and, with its TOTP check on, accepts the current step only. The adapter gives
# each association a random 160-bit secret (RFC 4226's recommended length), kept on the user,
# and checks a code against the user's own secret (the pending one for VerifySoftwareToken, the
# verified one for the challenge) over the current step and one on either side. moto's check of
# its fixed secret stays off (moto_server.py does not turn it on); its bookkeeping is kept. moto
# also signs in whoever the answer's USERNAME names, whatever user the challenge session is for,
# and its NEW_PASSWORD_REQUIRED answer sets that user's password from any session (one that
# asked for a TOTP code too), unchecked for the client's secret; Cognito refuses these
# (NotAuthorizedException), and so does the adapter.

TOTP_DRIFT_STEPS = 1
_original_associate_software_token = CognitoIdpBackend.associate_software_token
_original_verify_software_token = CognitoIdpBackend.verify_software_token
_original_respond_to_auth_challenge = CognitoIdpBackend.respond_to_auth_challenge


class EnableSoftwareTokenMFAException(JsonRESTError):
    def __init__(self) -> None:
        super().__init__("EnableSoftwareTokenMFAException", "Code mismatch")


def _code_matches(secret: str, code: str) -> bool:
    try:
        verify_totp(cognito_totp(secret), code.encode("utf-8"), valid_window=TOTP_DRIFT_STEPS)
        return True
    except InvalidToken:
        return False


def _user_of_access_token(backend: CognitoIdpBackend, access_token: str):
    for pool in backend.user_pools.values():
        if access_token in pool.access_tokens:
            _, username = pool.access_tokens[access_token]
            return pool._get_user(username)
    raise NotAuthorizedError(access_token)


def associate_software_token(self: CognitoIdpBackend, access_token: str, session: str):
    if session:  # the MFA_SETUP challenge's enrolment, which Quire does not use
        return _original_associate_software_token(self, access_token, session)
    user = _user_of_access_token(self, access_token)
    secret = base64.b32encode(secrets.token_bytes(20)).decode("ascii")
    user.quire_totp_pending = secret
    return {"SecretCode": secret}


def verify_software_token(
    self: CognitoIdpBackend, access_token: str, session: str, user_code: str, friendly_device_name: str
):
    if session:
        return _original_verify_software_token(self, access_token, session, user_code, friendly_device_name)
    user = _user_of_access_token(self, access_token)
    pending = getattr(user, "quire_totp_pending", None)
    if pending is None or not _code_matches(pending, user_code or ""):
        raise EnableSoftwareTokenMFAException()
    result = _original_verify_software_token(self, access_token, session, user_code, friendly_device_name)
    user.quire_totp_secret = pending
    user.quire_totp_pending = None
    return result


def respond_to_auth_challenge(
    self: CognitoIdpBackend, session: str, client_id: str, challenge_name: str, challenge_responses: dict
):
    if challenge_name == "SOFTWARE_TOKEN_MFA" and session in self.sessions:
        username, pool = self.sessions[session]
        user = pool._get_user(username)
        # The secret first, as Cognito: no one without it learns whether a code is right.
        _require_secret_hash(
            self, client_id, challenge_responses.get("USERNAME"), challenge_responses.get("SECRET_HASH")
        )
        # Cognito binds a challenge session to its user, named by their username (not an alias);
        # moto signs in whoever USERNAME names.
        if user is None or challenge_responses.get("USERNAME") != user.username:
            raise NotAuthorizedError("Invalid session for the user.")
        secret = getattr(user, "quire_totp_secret", None) if user is not None else None
        code = challenge_responses.get("SOFTWARE_TOKEN_MFA_CODE") or ""
        if secret is None or not _code_matches(secret, code):
            raise CodeMismatchException("Invalid code received for user")
    if challenge_name == "NEW_PASSWORD_REQUIRED" and session in self.sessions:
        username, pool = self.sessions[session]
        _require_secret_hash(
            self, client_id, challenge_responses.get("USERNAME"), challenge_responses.get("SECRET_HASH")
        )
        # moto sets the password of whoever USERNAME names, from any session; Cognito, only the
        # challenged user's, and only from a session that asked for a new password.
        user = pool._get_user(username)
        if user is None or challenge_responses.get("USERNAME") != user.username:
            raise NotAuthorizedError("Invalid session for the user.")
        if user.status != UserStatus.FORCE_CHANGE_PASSWORD:
            raise NotAuthorizedError("Invalid session for the user.")
        # See "password history" below.
        _refuse_recent(pool, user, challenge_responses.get("NEW_PASSWORD") or "")
        _password_history(user)
        answered = _original_respond_to_auth_challenge(self, session, client_id, challenge_name, challenge_responses)
        _remember_password(pool, user)
        return answered
    return _original_respond_to_auth_challenge(self, session, client_id, challenge_name, challenge_responses)


# --- Cognito: the app client's secret ---------------------------------------------------------
#
# On AWS, an app client with a secret must prove it on every unauthenticated call: SECRET_HASH
# in InitiateAuth's AuthParameters (every flow) and in RespondToAuthChallenge's
# ChallengeResponses, SecretHash in ForgotPassword and ConfirmForgotPassword, ClientSecret in
# RevokeToken; a refresh's SECRET_HASH is over the user's username (in a pool whose users sign
# in with their email, a UUID: their sub), whatever name the sign-in used. moto checks
# SECRET_HASH for the SRP and refresh flows and challenge answers only, and a refresh's over the
# name the sign-in used. The adapter checks the other calls as Cognito does (NotAuthorizedException,
# with Cognito's message), checks a challenge answer's secret before its code, and keeps each
# refresh token under the user's username.

_original_initiate_auth = CognitoIdpBackend.initiate_auth
_original_create_refresh_token = CognitoIdpUserPool.create_refresh_token
_original_forgot_password_response = CognitoIdpResponse.forgot_password
_original_confirm_forgot_password_response = CognitoIdpResponse.confirm_forgot_password


def _client_of(backend: CognitoIdpBackend, client_id: str):
    for pool in backend.user_pools.values():
        if client_id in pool.clients:
            return pool.clients[client_id]
    raise ResourceNotFoundError(client_id)


def _require_secret_hash(backend: CognitoIdpBackend, client_id: str, username: str | None, secret_hash: str | None):
    client = _client_of(backend, client_id)
    if client.generate_secret and not check_secret_hash(client.secret, client.id, username or "", secret_hash):
        raise NotAuthorizedError(f"SecretHash does not match for the client: {client_id}")


def initiate_auth(self: CognitoIdpBackend, client_id: str, auth_flow: str, auth_parameters: dict):
    parameters = auth_parameters or {}
    if str(auth_flow) == "USER_PASSWORD_AUTH":
        _require_secret_hash(self, client_id, parameters.get("USERNAME"), parameters.get("SECRET_HASH"))
        # Cognito answers an unconfirmed user UserNotConfirmedException whatever the password;
        # moto checks the password first.
        _, user = _pool_user(self, client_id, parameters.get("USERNAME") or "")
        if user is not None and user.status == UserStatus.UNCONFIRMED:
            raise UserNotConfirmedException("User is not confirmed.")
    elif str(auth_flow) in ("REFRESH_TOKEN_AUTH", "REFRESH_TOKEN"):
        # moto checks this one too, but answers a mismatch with the hash as its message.
        for pool in self.user_pools.values():
            held = pool.refresh_tokens.get(parameters.get("REFRESH_TOKEN"))
            if client_id in pool.clients and held is not None:
                _require_secret_hash(self, client_id, held[1], parameters.get("SECRET_HASH"))
    return _original_initiate_auth(self, client_id, auth_flow, auth_parameters)


def create_refresh_token(self: CognitoIdpUserPool, client_id: str, username: str):
    user = self._get_user(username)
    return _original_create_refresh_token(self, client_id, user.username if user is not None else username)


def _backend_of_client(response: CognitoIdpResponse) -> CognitoIdpBackend:
    # As moto's own handlers of these unauthenticated calls find it.
    account, region = find_account_region_by_value(
        "client_id", response._get_param("ClientId"), fallback=(response.current_account, response.region)
    )
    return cognitoidp_backends[account][region]


def _forgot_password_response(self: CognitoIdpResponse):
    _require_secret_hash(
        _backend_of_client(self),
        self._get_param("ClientId"),
        self._get_param("Username"),
        self._get_param("SecretHash"),
    )
    return _original_forgot_password_response(self)


def _confirm_forgot_password_response(self: CognitoIdpResponse):
    _require_secret_hash(
        _backend_of_client(self),
        self._get_param("ClientId"),
        self._get_param("Username"),
        self._get_param("SecretHash"),
    )
    return _original_confirm_forgot_password_response(self)


# --- Cognito: sign-up confirmation codes ----------------------------------------------------------
#
# On AWS, SignUp is refused (NotAuthorizedException) in a pool whose AdminCreateUserConfig allows
# only administrators to create users; otherwise it makes the user unconfirmed and emails a
# 6-digit code valid for 24 hours. ConfirmSignUp refuses any other code (CodeMismatchException,
# also for an unknown user with PreventUserExistenceErrors), an old one (ExpiredCodeException)
# and a user confirmed already (NotAuthorizedException); ResendConfirmationCode replaces the code,
# refuses a confirmed user (InvalidParameterException) and answers an unknown one as a known one;
# and a password sign-in of an unconfirmed user is answered UserNotConfirmedException whatever
# the password (moto checks the password first).
# Each checks the app client's SecretHash. moto checks neither the pool's setting nor the
# secret, issues no code, confirms with any code (or none), and has no ResendConfirmationCode.
# The adapter does what Cognito does, delivering each code to the local mailbox.

SIGN_UP_CODE_SECONDS = 24 * 60 * 60  # Cognito: a sign-up confirmation code is valid for 24 hours.
_original_sign_up = CognitoIdpBackend.sign_up
_original_sign_up_response = CognitoIdpResponse.sign_up


def _issue_sign_up_code(user: Any, username: str) -> None:
    code = f"{secrets.randbelow(1_000_000):06d}"
    user.quire_sign_up_code = code
    user.quire_sign_up_code_issued_at = time.time()
    _deliver(flatten_attrs(user.attributes).get("email", username), "sign-up", code)


def sign_up(self: CognitoIdpBackend, client_id: str, username: str, password: str, attributes: list):
    for pool in self.user_pools.values():
        if client_id in pool.clients:
            if pool.extended_config.get("AdminCreateUserConfig", {}).get("AllowAdminCreateUserOnly"):
                raise NotAuthorizedError("SignUp is not permitted for this user pool")
    user, details = _original_sign_up(self, client_id, username, password, attributes)
    _issue_sign_up_code(user, username)
    return user, details


def _sign_up_response(self: CognitoIdpResponse):
    _require_secret_hash(
        _backend_of_client(self), self._get_param("ClientId"), self._get_param("Username"), self._get_param("SecretHash")
    )
    return _original_sign_up_response(self)


def _confirm_sign_up_response(self: CognitoIdpResponse):
    client_id, username = self._get_param("ClientId"), self._get_param("Username")
    backend = _backend_of_client(self)
    _require_secret_hash(backend, client_id, username, self._get_param("SecretHash"))
    _, user = _pool_user(backend, client_id, username)
    code = str(self._get_param("ConfirmationCode") or "")
    if user is None:
        raise CodeMismatchException("Invalid verification code provided, please try again.")
    if user.status != UserStatus.UNCONFIRMED:
        raise NotAuthorizedError(f"User cannot be confirmed. Current status is {user.status.value}")
    issued = getattr(user, "quire_sign_up_code_issued_at", None)
    if issued is None or not secrets.compare_digest(str(user.quire_sign_up_code), code):
        raise CodeMismatchException("Invalid verification code provided, please try again.")
    if time.time() - issued > SIGN_UP_CODE_SECONDS:
        raise ExpiredCodeException("Invalid code provided, please request a code again.")
    user.status = UserStatus.CONFIRMED
    user.quire_sign_up_code = None
    user.quire_sign_up_code_issued_at = None
    user.update_attributes([{"Name": "email_verified", "Value": "true"}])
    return EmptyResult()


def _resend_confirmation_code_response(self: CognitoIdpResponse):
    client_id, username = self._get_param("ClientId"), self._get_param("Username")
    backend = _backend_of_client(self)
    _require_secret_hash(backend, client_id, username, self._get_param("SecretHash"))
    _, user = _pool_user(backend, client_id, username)
    if user is not None:
        if user.status != UserStatus.UNCONFIRMED:
            raise InvalidParameterException("User is already confirmed.")
        _issue_sign_up_code(user, username)
    return ActionResult(
        {"CodeDeliveryDetails": {"Destination": "e***", "DeliveryMedium": "EMAIL", "AttributeName": "email"}}
    )


# --- Cognito: password history -----------------------------------------------------------------
#
# On AWS, a pool whose password policy sets PasswordHistorySize n (Essentials tier and above)
# refuses a new password equal to one of the user's last n passwords, the current one included,
# with PasswordHistoryPolicyViolationException: in ChangePassword once the previous password is
# proved, in ConfirmForgotPassword once the code is, in the NEW_PASSWORD_REQUIRED answer and in
# AdminSetUserPassword. moto keeps no history. The adapter keeps on each user the SHA-256 of the
# passwords set through those calls (and the one they signed up or were given permanently),
# the last n, and refuses as Cognito does; a code or challenge it refuses stays usable. Not
# known and not imitated: whether Cognito counts a temporary password (the adapter does not).

_original_change_password = CognitoIdpBackend.change_password
_original_admin_set_user_password = CognitoIdpBackend.admin_set_user_password


class PasswordHistoryPolicyViolationException(JsonRESTError):
    def __init__(self) -> None:
        super().__init__(
            "PasswordHistoryPolicyViolationException",
            "The password does not comply with the password history policy.",
        )


def _history_size(pool: CognitoIdpUserPool) -> int:
    policy = pool.extended_config.get("Policies", {}).get("PasswordPolicy", {})
    return int(policy.get("PasswordHistorySize") or 0)


def _password_digest(password: str) -> str:
    return hashlib.sha256(password.encode("utf-8")).hexdigest()


def _password_history(user: Any) -> list[str]:
    history = getattr(user, "quire_password_history", None)
    if history is None:
        temporary = user.status == UserStatus.FORCE_CHANGE_PASSWORD
        history = [_password_digest(user.password)] if user.password and not temporary else []
        user.quire_password_history = history
    return history


def _refuse_recent(pool: CognitoIdpUserPool, user: Any, password: str) -> None:
    size = _history_size(pool)
    if size and _password_digest(password) in _password_history(user)[-size:]:
        raise PasswordHistoryPolicyViolationException()


def _remember_password(pool: CognitoIdpUserPool, user: Any) -> None:
    history = _password_history(user)
    history.append(_password_digest(user.password))
    del history[: max(0, len(history) - max(_history_size(pool), 1))]


def _pool_of_access_token(backend: CognitoIdpBackend, access_token: str):
    for pool in backend.user_pools.values():
        if access_token in pool.access_tokens:
            _, username = pool.access_tokens[access_token]
            return pool, pool._get_user(username)
    return None, None


def change_password(self: CognitoIdpBackend, access_token: str, previous_password: str, proposed_password: str):
    pool, user = _pool_of_access_token(self, access_token)
    if user is not None and user.password == previous_password:
        _refuse_recent(pool, user, proposed_password)
        _password_history(user)
    _original_change_password(self, access_token, previous_password, proposed_password)
    if user is not None:
        _remember_password(pool, user)


def admin_set_user_password(self: CognitoIdpBackend, user_pool_id: str, username: str, password: str, permanent: bool):
    pool = self.describe_user_pool(user_pool_id)
    user = self.admin_get_user(user_pool_id, username)
    if permanent:
        _refuse_recent(pool, user, password)
    _password_history(user)
    _original_admin_set_user_password(self, user_pool_id, username, password, permanent)
    if permanent:
        _remember_password(pool, user)


def install_cognito(mailbox: str | None) -> None:
    global MAILBOX
    MAILBOX = mailbox
    CognitoIdpBackend.forgot_password = forgot_password
    CognitoIdpBackend.confirm_forgot_password = confirm_forgot_password
    CognitoIdpUserPool.sign_out = sign_out
    CognitoIdpBackend.revoke_token = revoke_token
    CognitoIdpResponse.revoke_token = _revoke_token_response
    CognitoIdpBackend.associate_software_token = associate_software_token
    CognitoIdpBackend.verify_software_token = verify_software_token
    CognitoIdpBackend.respond_to_auth_challenge = respond_to_auth_challenge
    CognitoIdpBackend.initiate_auth = initiate_auth
    CognitoIdpUserPool.create_refresh_token = create_refresh_token
    CognitoIdpResponse.forgot_password = _forgot_password_response
    CognitoIdpResponse.confirm_forgot_password = _confirm_forgot_password_response
    CognitoIdpBackend.sign_up = sign_up
    CognitoIdpResponse.sign_up = _sign_up_response
    CognitoIdpResponse.confirm_sign_up = _confirm_sign_up_response
    CognitoIdpResponse.resend_confirmation_code = _resend_confirmation_code_response
    CognitoIdpBackend.change_password = change_password
    CognitoIdpBackend.admin_set_user_password = admin_set_user_password

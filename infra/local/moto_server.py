"""Quire's local AWS emulator: moto's WSGI app served single-threaded on loopback.

`moto_server` serves requests on threads without locking, so concurrent
conditional writes occasionally lose an update. One thread serialises every
request, which makes conditional-write races behave as on AWS at the same
speed (README.md, "The local emulator and its gaps").

Usage: moto_server.py --port N [--parent-pid P] [--mailbox FILE]    (started by infra/local/src/emulator.rs)
"""

import argparse
import collections
import json
import logging
import os
import sys
import threading
import time

# moto's own TOTP check (one fixed secret for every user) stays off: moto_patches.py checks each
# user's own secret ("TOTP secrets").
os.environ.pop("MOTO_COGNITO_IDP_USER_POOL_ENABLE_TOTP", None)

HOST = "127.0.0.1"  # loopback only: the emulator has no authentication


def exit_with_parent(parent: int) -> None:
    """Exit as soon as the process that started us is gone (a crashed test
    must not leave an orphan emulator behind): we are then re-parented."""
    while True:
        if os.getppid() != parent:
            os._exit(0)
        time.sleep(0.2)


CALLS_PATH = "/_quire/dynamodb-calls"
KMS_CALLS_PATH = "/_quire/kms-calls"


class CountingApp:
    """Counts the DynamoDB API calls the emulator serves, by operation, and answers
    GET /_quire/dynamodb-calls with the counts so far: how the tests count the round trips an
    authenticated request costs (tests/tests/round_trips.rs). Streams calls
    (DynamoDBStreams_20120810.*) are not DynamoDB round trips of a request and are not counted.
    KMS calls are counted apart (GET /_quire/kms-calls): how the tests count the data keys a
    download unwraps (tests/tests/round_trips.rs). Requests are served one at a time, so a
    plain counter is exact."""

    def __init__(self, app):
        self.app = app
        self.counts: collections.Counter = collections.Counter()
        self.kms: collections.Counter = collections.Counter()

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO")
        if path in (CALLS_PATH, KMS_CALLS_PATH) and environ.get("REQUEST_METHOD") == "GET":
            body = json.dumps(self.counts if path == CALLS_PATH else self.kms).encode()
            start_response(
                "200 OK",
                [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
            )
            return [body]
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if target.startswith("DynamoDB_20120810."):
            self.counts[target.split(".", 1)[1]] += 1
        elif target.startswith("TrentService."):
            self.kms[target.split(".", 1)[1]] += 1
        return self.app(environ, start_response)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument(
        "--parent-pid",
        type=int,
        default=None,
        help="pid of the launcher; exit when it is gone (default: our parent at start-up, "
        "which misses a parent that dies before we get this far)",
    )
    parser.add_argument(
        "--mailbox",
        default=None,
        help="JSON-lines file that receives what Cognito would email (password-reset codes)",
    )
    args = parser.parse_args()

    # moto builds some URLs (e.g. for Lambda, CloudFormation) from MOTO_PORT.
    os.environ.setdefault("MOTO_PORT", str(args.port))

    parent = args.parent_pid if args.parent_pid is not None else os.getppid()
    threading.Thread(
        target=exit_with_parent, args=(parent,), name="parent-watchdog", daemon=True
    ).start()

    from moto.server import (  # noqa: E402  (after the environment is set)
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import run_simple

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import moto_patches  # noqa: E402

    moto_patches.install(args.mailbox)

    # One line per request is noise in test output; keep warnings and errors.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)

    app = CountingApp(DomainDispatcherApplication(create_backend_app))
    run_simple(
        HOST,
        args.port,
        app,
        threaded=False,
        processes=1,
        use_reloader=False,
        use_debugger=False,
        # moto's handler keeps S3 metadata headers that contain underscores.
        request_handler=MotoRequestHandler,
    )


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(0)

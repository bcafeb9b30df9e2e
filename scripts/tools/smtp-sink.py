"""An SMTP server on loopback for the notification tests (aiosmtpd): each
message it accepts is appended to OUT as one JSON line (envelope, headers,
text). With USER:PASSWORD it requires that login (AUTH PLAIN or LOGIN,
allowed without TLS: loopback only).

    smtp-sink.py PORT OUT [USER:PASSWORD]
"""

import email
import email.policy
import json
import sys
import threading
import warnings

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Sink:
    def __init__(self, out):
        self.out = out
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        body = msg.get_body(preferencelist=("plain",))
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "message_id": msg["Message-ID"],
            "subject": msg["Subject"],
            "text": body.get_content() if body else "",
            "login": session.auth_data if session.authenticated else None,
        }
        with self.lock, open(self.out, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
        return "250 Message accepted for delivery"


# aiosmtpd 1.4 sets its own deprecated login_data on each login.
warnings.filterwarnings("ignore", message="Session.login_data")


def main():
    port, out = int(sys.argv[1]), sys.argv[2]
    kwargs = {}
    if len(sys.argv) > 3:
        user, password = sys.argv[3].split(":", 1)

        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = isinstance(auth_data, LoginPassword) and (
                auth_data.login.decode(), auth_data.password.decode()) == (user, password)
            return AuthResult(success=ok, auth_data=user if ok else None)

        kwargs = {"authenticator": authenticator, "auth_require_tls": False,
                  "auth_required": True}
    controller = Controller(Sink(out), hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    print("ready", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""A real SMTP server for the tests (aiosmtpd, from PyPI: scripts/setup installs it).

Usage: python3 tests/support/smtp_sink.py --port P --dir D [--auth USER:PASSWORD]

Listens on 127.0.0.1:P, plain SMTP (no STARTTLS). Every message accepted is saved as D/<n>.eml,
numbered from 1 on (after the highest number already in D, so a restart into the same directory
overwrites nothing), written to a temporary file first and renamed, so a reader never sees half a
message. Each file starts with two lines naming the envelope, `X-Sink-Mail-From:` and
`X-Sink-Rcpt-To:`, then the message exactly as received.

At RCPT, an address whose local part contains `reject` is refused with 550 and one containing
`tempfail` with 451. With --auth, clients must sign in (PLAIN or LOGIN, allowed without TLS here,
on loopback) with that user name and password; others get 535.
"""
import argparse
import asyncio
import os
import re

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


class Sink:
    def __init__(self, directory):
        self.directory = directory
        numbers = [int(m.group(1)) for m in map(re.compile(r"^(\d+)\.eml$").match, os.listdir(directory)) if m]
        self.next = max(numbers, default=0) + 1

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.rsplit("@", 1)[0].lower()
        if "reject" in local:
            return "550 5.1.1 No such mailbox here"
        if "tempfail" in local:
            return "451 4.3.0 Mailbox busy, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        number = self.next
        self.next += 1
        head = "X-Sink-Mail-From: {}\r\nX-Sink-Rcpt-To: {}\r\n".format(envelope.mail_from, ", ".join(envelope.rcpt_tos))
        content = envelope.original_content
        if isinstance(content, str):
            content = content.encode("utf-8", "surrogateescape")
        temporary = os.path.join(self.directory, ".{}.eml.tmp".format(number))
        with open(temporary, "wb") as f:
            f.write(head.encode("utf-8") + content)
            f.flush()
            os.fsync(f.fileno())
        os.rename(temporary, os.path.join(self.directory, "{}.eml".format(number)))
        return "250 2.0.0 Saved as {}".format(number)


def authenticator(expected):
    user, _, password = expected.partition(":")

    def check(server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == user.encode()
            and auth_data.password == password.encode()
        )
        # Not "handled": aiosmtpd then sends the 535 itself.
        return AuthResult(success=ok, handled=False)

    return check


async def main():
    parser = argparse.ArgumentParser(description="SMTP sink for the tests")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dir", required=True)
    parser.add_argument("--auth", help="USER:PASSWORD every client must sign in with")
    args = parser.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    sink = Sink(args.dir)
    options = {"enable_SMTPUTF8": True, "decode_data": False}
    if args.auth:
        options.update(authenticator=authenticator(args.auth), auth_required=True, auth_require_tls=False)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(sink, **options), host="127.0.0.1", port=args.port)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())

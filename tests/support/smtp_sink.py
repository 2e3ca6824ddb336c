"""A real SMTP server for the tests (aiosmtpd): it accepts every message on
127.0.0.1 and writes each, parsed, as one JSON file into a directory.

    python3 smtp_sink.py DIR [PORT]

PORT 0 (the default) picks a free port. Once listening it prints
"listening on PORT" on standard output. Each file (written whole, then
renamed into place, named so that names sort in the order received) holds mail_from, rcpt_tos, subject, text and html.
"""

import asyncio
import email
import email.policy
import json
import os
import sys
import time
import uuid

from aiosmtpd.smtp import SMTP


class Sink:
    def __init__(self, directory):
        self.directory = directory

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        parts = {"text/plain": "", "text/html": ""}
        for part in message.walk():
            kind = part.get_content_type()
            if kind in parts and not part.is_multipart():
                parts[kind] = part.get_content()
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "from": str(message.get("From", "")),
            "to": str(message.get("To", "")),
            "subject": str(message.get("Subject", "")),
            "text": parts["text/plain"],
            "html": parts["text/html"],
        }
        name = f"{time.time_ns():020d}-{uuid.uuid4().hex}.json"
        temporary = os.path.join(self.directory, "." + name)
        with open(temporary, "w") as out:
            json.dump(record, out)
        os.rename(temporary, os.path.join(self.directory, name))
        return "250 OK"


async def main():
    directory = sys.argv[1]
    port = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    loop = asyncio.get_running_loop()
    handler = Sink(directory)
    server = await loop.create_server(
        lambda: SMTP(handler, hostname="sink.test"), "127.0.0.1", port, reuse_address=True
    )
    print(f"listening on {server.sockets[0].getsockname()[1]}", flush=True)
    await server.serve_forever()


asyncio.run(main())

#!/usr/bin/env python3
"""Regenerates shared/tests/data/svix_vectors.json with the official svix library.

Not run by CI (the vectors are committed); run by hand in a throwaway venv:
    python3 -m venv /tmp/svix && /tmp/svix/bin/pip install svix==2.9.1
    /tmp/svix/bin/python tools/gen-svix-vectors.py > shared/tests/data/svix_vectors.json
The first case is svix's own published example.
"""

import base64
import json
from datetime import datetime, timezone

from svix.webhooks import Webhook

CASES = [
    ("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, '{"test": 2432232314}'),
    ("whsec_bG9jYWwtZGV2ZWxvcG1lbnQtd2ViaG9vay1zZWNyZXQ=", "msg_2fKz0", 1795701600, '{"type":"user.created","data":{"id":"user_1"}}'),
    ("whsec_" + base64.b64encode(bytes(range(32))).decode(), "msg_unicode", 1700000000, '{"name":"Zoë Ørsted ✓"}'),
    ("whsec_" + base64.b64encode(b"k" * 24).decode(), "msg_empty", 1, ""),
]

out = []
for secret, msg_id, ts, body in CASES:
    signature = Webhook(secret).sign(msg_id, datetime.fromtimestamp(ts, tz=timezone.utc), body)
    out.append({"secret": secret, "id": msg_id, "timestamp": ts, "body": body, "signature": signature})
print(json.dumps(out, indent=2, ensure_ascii=False))

"""The one stylesheet every page carries inline, and its hash for the Content Security Policy.

Apart from :mod:`functions.web.pages` so that every response can name the hash in its CSP without
loading the pages, their translations and Babel: ``authorize`` answers with a redirect, and its
cold start is the one a person waits for.
"""

from __future__ import annotations

import base64
import hashlib

STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem;"
    "color:#1f1f1f;background:#fff;line-height:1.5}h1{font-size:1.5rem;line-height:1.3}"
    "a.button{display:inline-block;padding:.5rem 1rem;border-radius:4px;background:#0b57d0;"
    "color:#fff;text-decoration:none}a.button:hover{background:#0842a0}"
    "a.button:focus-visible{outline:3px solid #0b57d0;outline-offset:2px}"
    "code{background:#f1f3f4;padding:0 .25rem;direction:ltr;unicode-bidi:isolate;"
    "overflow-wrap:anywhere}"
    ".service{margin:0;color:#444746;font-weight:600}footer{margin-top:2rem;padding-top:1rem;"
    "border-top:1px solid #e0e0e0;font-size:.875rem;color:#444746}a{color:#0b57d0}"
)
STYLE_HASH = "sha256-" + base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()

"""Crossdock: integrate external provider APIs.

Pull their data on a schedule, survive their failures, keep what they sent, serve it fast and push
results to other APIs within their rate limits. Sub-packages by layer (``httpclient``, ``storage``,
``jobs``, ``api``, ``cli``, ``simulators``) and by capability (``marketplace``, ...).
"""

__version__ = "0.1.0"

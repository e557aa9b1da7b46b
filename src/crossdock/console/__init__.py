"""The operations console: server-rendered pages at ``/console`` for every capability.

The core (this package) gives the layout, sign-in, CSRF protection, SVG charts, the static files and
the overview; each capability contributes its own page through its manifest (``console=``), built
from its folder's ``console.py`` and ``templates/``. Every asset is served by the service itself: the
pages work with no internet. See docs/console.md.
"""

"""
example_api behind one proxy: gunicorn serves `wsgi:app`.

The proxy (nginx.conf beside this file) sets X-Forwarded-For,
X-Forwarded-Proto and X-Forwarded-Host on every request, replacing
what the client sent; ProxyFix trusts one value of each, the proxy's.
"""

from __future__ import annotations

from example_api import create_app
from werkzeug.middleware.proxy_fix import ProxyFix

app = create_app()
app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
    app.wsgi_app, x_for=1, x_proto=1, x_host=1
)

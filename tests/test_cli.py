"""Tests for flask_servicecbv.cli: ``flask services list`` and ``check``."""

# Views declare `services = {...}` as the library documents it; ClassVar
# annotations on every test view would be noise.

from __future__ import annotations

import functools

import pytest
from flask import Blueprint, Flask
from flask.views import MethodView

from flask_servicecbv import (
    APP_SERVICES,
    HealthView,
    RegisteredService,
    ServiceView,
    get,
    init_app,
    overwrite_value,
    register_factory,
    register_value,
)


class Settings:
    """A service key registered as a value."""


class Cache:
    """A service key registered with a factory (the class itself)."""


def run(app: Flask, *args: str):
    return app.test_cli_runner().invoke(args=["services", *args])


class TestList:
    @pytest.fixture(name="wired_app")
    def _wired_app(self):
        """
        A configured service with a ping on the app and overridden by "api",
        a value on the app, and a factory on "api".
        """
        app = Flask("cli_app")
        app.config["SERVICES"] = {
            APP_SERVICES: {"service_fixtures.CliPingService": {"region": "eu"}},
            "api": {"service_fixtures.CliPingService": {"region": "us"}},
        }
        init_app(app)
        register_value(app, Settings, "settings")
        api = Blueprint("api", __name__)
        register_factory(api, Cache, Cache)
        app.register_blueprint(api)
        return app

    def test_layers_and_resolution(self, wired_app):
        """
        Each layer lists its keys with value or factory and ping, then each
        blueprint says which layer provides each of its keys.
        """
        result = run(wired_app, "list")

        assert result.exit_code == 0
        assert result.output.splitlines() == [
            "The app:",
            (
                "  service_fixtures.CliPingService: factory CliPingService(**config), "
                "ping CliPingService.ping"
            ),
            "  test_cli.Settings: value 'settings', ping -",
            "Blueprint 'api':",
            (
                "  service_fixtures.CliPingService: factory CliPingService(**config), "
                "ping CliPingService.ping"
            ),
            "  test_cli.Cache: factory Cache, ping -",
            "Blueprint 'api' resolves:",
            "  service_fixtures.CliPingService <- blueprint 'api'",
            "  test_cli.Settings <- the app",
            "  test_cli.Cache <- blueprint 'api'",
        ]

    def test_empty_app_layer(self, app):
        """
        A layer without services says so.
        """
        result = run(app, "list")

        assert result.exit_code == 0
        assert result.output.splitlines() == ["The app:", "  (no services)"]

    def test_nested_blueprint(self, app):
        """
        A nested blueprint is listed under its dotted name, its keys resolved
        from its parent's layer.
        """
        parent = Blueprint("parent", __name__)
        register_value(parent, Settings, "parent settings")
        parent.register_blueprint(Blueprint("child", __name__))
        app.register_blueprint(parent)

        result = run(app, "list")

        assert result.output.splitlines() == [
            "The app:",
            "  (no services)",
            "Blueprint 'parent':",
            "  test_cli.Settings: value 'parent settings', ping -",
            "Blueprint 'parent' resolves:",
            "  test_cli.Settings <- blueprint 'parent'",
            "Blueprint 'parent.child' resolves:",
            "  test_cli.Settings <- blueprint 'parent'",
        ]

    def test_blueprint_name_case_kept(self, app):
        """
        A blueprint's name is printed as it is spelt, capitals included.
        """
        admin = Blueprint("AdminV2", __name__)
        register_value(admin, Settings, "admin settings")
        app.register_blueprint(admin)

        result = run(app, "list")

        assert "Blueprint 'AdminV2':" in result.output.splitlines()

    def test_value_with_qualname(self, app):
        """
        A value that has a ``__qualname__`` (a class, a function) is shown by it.
        """
        register_value(app, Cache, Cache)

        result = run(app, "list")

        assert "  test_cli.Cache: value Cache, ping -" in result.output.splitlines()

    def test_value_with_failing_repr(self, app):
        """
        A value whose repr raises is listed with a placeholder instead of
        stopping the listing.
        """

        class Broken:
            def __repr__(self):
                raise ValueError

        register_value(app, Settings, Broken())
        register_value(app, Cache, "after")

        result = run(app, "list")

        assert result.exit_code == 0
        assert result.output.splitlines()[1:3] == [
            "  test_cli.Settings: value <repr failed: ValueError>, ping -",
            "  test_cli.Cache: value 'after', ping -",
        ]


#: A factory written as a lambda at module level.
module_lambda = lambda: Cache()  # noqa: E731, PLW0108 -- the lambda is what is shown


class TestListReadable:
    def test_lambdas(self, app):
        """
        A lambda is shown with where it is written, and the function it is
        written in.
        """
        register_factory(app, Cache, module_lambda)
        register_factory(app, Settings, lambda: Settings(), ping=lambda _: None)  # noqa: PLW0108
        line = _line_of(app.extensions["servicecbv"].lookup(None, Settings).factory)

        lines = run(app, "list").output.splitlines()

        assert lines[1] == (
            f"  test_cli.Cache: factory lambda at test_cli.py:{_line_of(module_lambda)}"
            ", ping -"
        )
        assert lines[2] == (
            "  test_cli.Settings: factory lambda in "
            f"TestListReadable.test_lambdas at test_cli.py:{line}, "
            f"ping lambda in TestListReadable.test_lambdas at test_cli.py:{line}"
        )

    def test_partial(self, app):
        """
        A functools.partial is shown as a call: its function as any factory,
        then its arguments.
        """

        def make(region, *, size):
            return Cache()

        register_factory(app, Cache, functools.partial(make, "eu", size=3))
        register_factory(app, Settings, functools.partial(module_lambda))

        lines = run(app, "list").output.splitlines()

        assert lines[1:3] == [
            (
                "  test_cli.Cache: factory "
                "partial(TestListReadable.test_partial.<locals>.make, 'eu', size=3)"
                ", ping -"
            ),
            (
                "  test_cli.Settings: factory partial(lambda at "
                f"test_cli.py:{_line_of(module_lambda)}), ping -"
            ),
        ]
        with app.app_context():
            assert isinstance(get(Cache), Cache)

    def test_own_blueprints_marked(self, app):
        """
        The library's own blueprints (the OpenAPI document's) are marked as
        such; the app's are not.
        """
        from flask_servicecbv.rest.openapi import OpenAPI  # noqa: PLC0415

        app.register_blueprint(Blueprint("api", __name__))
        OpenAPI(app)

        lines = run(app, "list").output.splitlines()

        assert "Blueprint 'api' resolves:" in lines
        assert "Blueprint 'openapi' (flask_servicecbv's own) resolves:" in lines

    def test_own_blueprint_layer_marked(self, app):
        """A layer of the library's own blueprint is marked too."""
        from flask_servicecbv.rest.openapi import OpenAPI  # noqa: PLC0415

        OpenAPI(app)
        with app.app_context():
            overwrite_value(Settings, "s", blueprint="openapi")

        lines = run(app, "list").output.splitlines()

        assert "Blueprint 'openapi' (flask_servicecbv's own):" in lines


def _line_of(func):
    return func.__code__.co_firstlineno


class TestCheck:
    def test_all_resolve(self, app):
        """
        When everything resolves, one summary line and exit status 0; function
        views and plain class views are not counted.
        """

        class Items(ServiceView):
            services = {"settings": Settings, "cache": Cache}

        class Plain(MethodView):
            pass

        register_value(app, Settings, "settings")
        register_factory(app, Cache, Cache)
        app.add_url_rule("/items", view_func=Items.as_view("items"))
        app.add_url_rule("/plain", view_func=Plain.as_view("plain"))
        app.add_url_rule("/function", "function", view_func=lambda: "function")

        result = run(app, "check")

        assert result.exit_code == 0
        assert result.stdout == (
            "Checked 2 service attributes of 1 view with services: all resolve.\n"
            "Views without services are not checked.\n"
        )
        assert result.stderr == ""

    def test_views_without_services_not_counted(self, app):
        """
        Service views that declare no services, such as HealthView, are not
        counted, and the summary says so.
        """

        class Item(ServiceView):
            services = {"settings": Settings}

        register_value(app, Settings, "settings")
        app.add_url_rule("/health", view_func=HealthView.as_view("health"))
        app.add_url_rule("/bare", view_func=ServiceView.as_view("bare"))
        app.add_url_rule("/a", view_func=Item.as_view("a"))
        app.add_url_rule("/b", view_func=Item.as_view("b"))

        result = run(app, "check")

        assert result.exit_code == 0
        assert result.output == (
            "Checked 2 service attributes of 2 views with services: all resolve.\n"
            "Views without services are not checked.\n"
        )

    def test_no_views(self, app):
        """
        An app without service views passes with zero counts.
        """
        result = run(app, "check")

        assert result.exit_code == 0
        assert result.output == (
            "Checked 0 service attributes of 0 views with services: all resolve.\n"
            "Views without services are not checked.\n"
        )

    def test_unused_layer_warning(self, app):
        """
        A blueprint layer with services but no registered blueprint is
        reported as a warning on stderr; it does not change the exit status.
        """
        app.extensions["servicecbv"].register(
            "contatcs",
            RegisteredService(
                Cache, value=Cache(), enter=False, ping=None, on_registry_close=None
            ),
        )

        result = run(app, "check")

        assert result.exit_code == 0
        assert result.stderr == (
            "warning: blueprint layer 'contatcs' has services, but no blueprint "
            "'contatcs' is registered; check the name.\n"
        )

    def test_unresolved(self, app):
        """
        Each unresolved attribute is printed with the layers searched, then the
        count, on stderr; the exit status is 1.
        """

        class Items(ServiceView):
            services = {"settings": Settings, "cache": Cache}

        register_value(app, Cache, Cache())
        api = Blueprint("api", __name__)
        api.add_url_rule("/items", view_func=Items.as_view("items"))
        app.register_blueprint(api)
        app.add_url_rule("/items", view_func=Items.as_view("items"))

        result = run(app, "check")

        assert result.exit_code == 1
        assert result.stdout == ""
        assert result.stderr.splitlines() == [
            (
                "api.items: settings = test_cli.Settings is not in blueprint 'api', "
                "the app"
            ),
            "items: settings = test_cli.Settings is not in the app",
            "2 service attribute(s) do not resolve.",
        ]

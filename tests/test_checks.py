"""Tests for flask_servicecbv.checks: which declared services do not resolve."""

# Views declare `services = {...}` as the library documents it; ClassVar
# annotations on every test view would be noise.

from __future__ import annotations

import pytest
from flask import Blueprint, Flask
from flask.views import MethodView

from flask_servicecbv import (
    RegisteredService,
    ServiceView,
    UnresolvedService,
    check_services,
    init_app,
    register_value,
    unused_layers,
)
from flask_servicecbv.exceptions import NotInitializedError


class Database:
    """A service key."""


class Cache:
    """A second service key."""


class TestUnusedLayers:
    def test_misspelt_configured_blueprint(self):
        """
        A SERVICES entry for a blueprint name that is never registered is a
        layer nobody searches: unused_layers() names it; registered
        blueprints' layers, empty layers and the app layer are not listed.
        """
        app = Flask("checks_app")
        app.config["SERVICES"] = {
            "contatcs": {"flask_servicecbv.Service": {}},
            "contacts": {"flask_servicecbv.Service": {}},
        }
        init_app(app)
        register_value(app, Database, Database())
        contacts = Blueprint("contacts", __name__)
        app.register_blueprint(contacts)
        app.extensions["servicecbv"].register("empty", _service())
        app.extensions["servicecbv"].unregister("empty", Database)

        assert unused_layers(app) == ["contatcs"]

    def test_not_initialized(self):
        """
        An app without init_app has no layers to check.
        """
        with pytest.raises(NotInitializedError, match="call flask_servicecbv"):
            unused_layers(Flask("bare"))


def _service():
    return RegisteredService(
        Database, value=Database(), enter=False, ping=None, on_registry_close=None
    )


class TestCheckServices:
    def test_all_resolve(self, app):
        """
        An app whose views' services all resolve gives an empty list.
        """

        class Items(ServiceView):
            services = {"db": Database}

        register_value(app, Database, Database())
        app.add_url_rule("/items", view_func=Items.as_view("items"))

        assert check_services(app) == []

    def test_app_endpoint(self, app):
        """
        An app view's attribute that the app layer lacks is reported.
        """

        class Items(ServiceView):
            services = {"db": Database, "cache": Cache}

        register_value(app, Cache, Cache())
        app.add_url_rule("/items", view_func=Items.as_view("items"))

        assert check_services(app) == [UnresolvedService("items", "db", Database)]

    def test_blueprint_endpoint(self, app):
        """
        A blueprint view resolves from its blueprint's layer and the app's,
        not from another blueprint's.
        """

        class Items(ServiceView):
            services = {"db": Database, "cache": Cache}

        register_value(app, Cache, Cache())
        api = Blueprint("api", __name__)
        admin = Blueprint("admin", __name__)
        register_value(admin, Database, Database())
        api.add_url_rule("/items", view_func=Items.as_view("items"))
        admin.add_url_rule("/items", view_func=Items.as_view("items"))
        app.register_blueprint(api, url_prefix="/api")
        app.register_blueprint(admin, url_prefix="/admin")

        assert check_services(app) == [UnresolvedService("api.items", "db", Database)]

    def test_nested_blueprint(self, app):
        """
        A nested blueprint's view resolves from its parent's layer.
        """

        class Items(ServiceView):
            services = {"db": Database, "cache": Cache}

        parent = Blueprint("parent", __name__)
        child = Blueprint("child", __name__)
        register_value(parent, Database, Database())
        child.add_url_rule("/items", view_func=Items.as_view("items"))
        parent.register_blueprint(child, url_prefix="/child")
        app.register_blueprint(parent, url_prefix="/parent")

        assert check_services(app) == [
            UnresolvedService("parent.child.items", "cache", Cache)
        ]

    def test_every_missing_attribute(self, app):
        """
        Every unresolved (endpoint, attribute) is reported, sorted by endpoint.
        """

        class Items(ServiceView):
            services = {"db": Database, "cache": Cache}

        app.add_url_rule("/b", view_func=Items.as_view("b"))
        app.add_url_rule("/a", view_func=Items.as_view("a"))

        assert check_services(app) == [
            UnresolvedService("a", "db", Database),
            UnresolvedService("a", "cache", Cache),
            UnresolvedService("b", "db", Database),
            UnresolvedService("b", "cache", Cache),
        ]

    def test_function_view_ignored(self, app):
        """
        Function views declare no services and are skipped.
        """

        @app.get("/plain")
        def plain():
            return "plain"

        assert check_services(app) == []
        assert app.test_client().get("/plain").text == "plain"

    def test_non_service_class_view_ignored(self, app):
        """
        Class-based views without ServiceMixin are skipped.
        """

        class Plain(MethodView):
            services = {"db": Database}

        app.add_url_rule("/plain", view_func=Plain.as_view("plain"))

        assert check_services(app) == []

    def test_not_initialized(self):
        """
        An app without init_app raises NotInitializedError.
        """
        with pytest.raises(
            NotInitializedError,
            match=r"The app 'bare' has no service registry; "
            r"call flask_servicecbv.init_app\(app\) first.",
        ):
            check_services(Flask("bare"))


class TestUnresolvedService:
    def test_unpacks(self):
        """
        An UnresolvedService unpacks as (endpoint, attribute, key).
        """
        endpoint, attribute, key = UnresolvedService("api.items", "db", Database)

        assert (endpoint, attribute, key) == ("api.items", "db", Database)

    @pytest.mark.parametrize(
        ("endpoint", "chain"),
        [
            ("items", (None,)),
            ("api.items", ("api", None)),
            ("parent.child.items", ("parent.child", "parent", None)),
        ],
    )
    def test_chain(self, endpoint, chain):
        """
        .chain is the endpoint's lookup chain, innermost first, None the app.
        """
        assert UnresolvedService(endpoint, "db", Database).chain == chain

"""Tests for flask_servicecbv.config: app.config["SERVICES"], from_context."""

# Views declare `services = {...}` as the library documents it; ClassVar
# annotations on every test view would be noise.

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import ClassVar

import pytest
from flask import Blueprint, Flask
from service_fixtures import CfgDottedService, CfgTwinService

from flask_servicecbv import (
    APP_SERVICES,
    Registry,
    Service,
    ServiceNotFoundError,
    ServiceView,
    check_services,
    get_pings,
    init_app,
)
from flask_servicecbv.config import configure_services
from flask_servicecbv.exceptions import ConfigurationError, NotInitializedError
from flask_servicecbv.extension import EXTENSION_KEY


@pytest.fixture(name="make_app")
def _make_app():
    """
    Build a testing app with the given ``SERVICES`` and call init_app on it.
    """

    def make(services: object) -> Flask:
        app = Flask("config_app")
        app.config["TESTING"] = True
        app.config["SERVICES"] = services
        return init_app(app)

    return make


class TestBuilding:
    def test_app_services_key(self):
        """
        APP_SERVICES is the "__app__" key of the configuration.
        """
        assert APP_SERVICES == "__app__"

    def test_kwargs_arrive(self, make_app):
        """
        A ``{kwargs}`` spec builds the class with those keyword arguments.
        """

        @dataclass
        class CfgKwargsService(Service):
            name: str
            retries: int = 0

        app = make_app(
            {APP_SERVICES: {"CfgKwargsService": {"name": "n", "retries": 3}}}
        )

        with app.app_context():
            assert CfgKwargsService.from_context() == CfgKwargsService("n", 3)

    def test_args_and_kwargs_arrive(self, make_app):
        """
        A ``((args...), {kwargs})`` spec passes both to the constructor.
        """

        @dataclass
        class CfgArgsService(Service):
            consumer_key: str
            secret: str
            timeout: float = 5.0

        app = make_app(
            {APP_SERVICES: {"CfgArgsService": (("key", "secret"), {"timeout": 2.0})}}
        )

        with app.app_context():
            assert CfgArgsService.from_context() == CfgArgsService("key", "secret", 2.0)

    def test_lists_are_sequences(self, make_app):
        """
        ``[[args...], {kwargs}]``, as a JSON or TOML config gives it, works too.
        """

        @dataclass
        class CfgListSpecService(Service):
            consumer_key: str
            timeout: float = 5.0

        app = make_app({APP_SERVICES: {"CfgListSpecService": [["key"], {}]}})

        with app.app_context():
            assert CfgListSpecService.from_context() == CfgListSpecService("key")

    def test_no_init(self, make_app):
        """
        A subclass without its own ``__init__`` takes an empty ``{}``.
        """

        class CfgPlainService(Service):
            pass

        app = make_app({APP_SERVICES: {"CfgPlainService": {}}})

        with app.app_context():
            assert isinstance(CfgPlainService.from_context(), CfgPlainService)

    def test_grandchild_by_name(self, make_app):
        """
        Subclasses of subclasses are found by name too.
        """

        class CfgBaseService(Service):
            pass

        class CfgGrandchildService(CfgBaseService):
            pass

        app = make_app({APP_SERVICES: {"CfgGrandchildService": {}}})

        with app.app_context():
            assert type(CfgGrandchildService.from_context()) is CfgGrandchildService

    def test_dotted_path(self, make_app):
        """
        A dotted path names the class without relying on its bare name.
        """
        app = make_app(
            {APP_SERVICES: {"service_fixtures.CfgDottedService": {"url": "db://"}}}
        )

        with app.app_context():
            assert CfgDottedService.from_context() == CfgDottedService("db://")

    def test_built_lazily(self, make_app):
        """
        The constructor runs on first use, not at init_app.
        """
        built = []

        class CfgLazyService(Service):
            def __init__(self) -> None:
                built.append(self)

        app = make_app({APP_SERVICES: {"CfgLazyService": {}}})

        assert built == []

        with app.app_context():
            svc = CfgLazyService.from_context()

        assert built == [svc]

    def test_no_services_config(self, app):
        """
        Without ``SERVICES`` nothing is registered.
        """
        assert "SERVICES" not in app.config
        assert app.extensions[EXTENSION_KEY].layers == {None: {}}

    def test_none_is_no_config(self, make_app):
        """
        ``SERVICES = None`` counts as no configuration.
        """
        app = make_app(None)

        assert app.extensions[EXTENSION_KEY].layers == {None: {}}

    def test_registered_per_layer(self, make_app):
        """
        "__app__" entries go to the app layer, others to their blueprint's.
        """

        class CfgLayerService(Service):
            pass

        app = make_app(
            {APP_SERVICES: {"CfgLayerService": {}}, "api": {"CfgLayerService": {}}}
        )

        layers = app.extensions[EXTENSION_KEY].layers
        assert list(layers) == [None, "api"]
        assert list(layers[None]) == [CfgLayerService]
        assert list(layers["api"]) == [CfgLayerService]


class TestFromContext:
    def test_same_object_in_one_app_context(self, make_app):
        """
        Within one app context, from_context() returns the same object.
        """

        class CfgSameService(Service):
            pass

        app = make_app({APP_SERVICES: {"CfgSameService": {}}})

        with app.app_context():
            assert CfgSameService.from_context() is CfgSameService.from_context()

    def test_new_object_in_next_app_context(self, make_app):
        """
        The next app context builds a new instance.
        """

        class CfgFreshService(Service):
            pass

        app = make_app({APP_SERVICES: {"CfgFreshService": {}}})

        with app.app_context():
            first = CfgFreshService.from_context()
        with app.app_context():
            second = CfgFreshService.from_context()

        assert first is not second

    def test_request_gets_blueprint_instance(self, make_app):
        """
        In a request, the blueprint's configuration wins over the app's.
        """

        @dataclass
        class CfgRequestService(Service):
            name: str

        app = make_app(
            {
                APP_SERVICES: {"CfgRequestService": {"name": "app"}},
                "api": {"CfgRequestService": {"name": "api"}},
            }
        )
        bp = Blueprint("api", __name__)

        @bp.get("/name")
        def api_name():
            return CfgRequestService.from_context().name

        @app.get("/name")
        def app_name():
            return CfgRequestService.from_context().name

        app.register_blueprint(bp, url_prefix="/api")
        client = app.test_client()

        assert client.get("/api/name").text == "api"
        assert client.get("/name").text == "app"

    def test_request_falls_back_to_app(self, make_app):
        """
        A blueprint without its own entry gets the app's instance.
        """

        @dataclass
        class CfgFallbackService(Service):
            name: str

        app = make_app({APP_SERVICES: {"CfgFallbackService": {"name": "app"}}})
        bp = Blueprint("api", __name__)

        @bp.get("/name")
        def api_name():
            return CfgFallbackService.from_context().name

        app.register_blueprint(bp, url_prefix="/api")

        assert app.test_client().get("/api/name").text == "app"

    def test_same_object_in_one_request(self, make_app):
        """
        Two from_context() calls in one request return the same object.
        """

        class CfgOnceService(Service):
            pass

        app = make_app({"api": {"CfgOnceService": {}}})
        bp = Blueprint("api", __name__)

        @bp.get("/same")
        def same():
            return {
                "same": CfgOnceService.from_context() is CfgOnceService.from_context()
            }

        app.register_blueprint(bp)

        assert app.test_client().get("/same").json == {"same": True}

    def test_blueprint_name_outside_request(self, make_app):
        """
        ``blueprint_name=`` picks a blueprint's chain outside a request.
        """

        @dataclass
        class CfgNamedService(Service):
            name: str

        app = make_app(
            {
                APP_SERVICES: {"CfgNamedService": {"name": "app"}},
                "api": {"CfgNamedService": {"name": "api"}},
            }
        )
        app.register_blueprint(Blueprint("api", __name__))

        with app.app_context():
            assert CfgNamedService.from_context(blueprint_name="api").name == "api"
            assert CfgNamedService.from_context().name == "app"

    def test_two_blueprints_two_instances(self, make_app):
        """
        One class configured under two blueprints gives two instances, each
        with its own arguments.
        """

        @dataclass(eq=False)
        class CfgTwoService(Service):
            name: str

        app = make_app(
            {
                "contacts": {"CfgTwoService": {"name": "contacts"}},
                "library": {"CfgTwoService": {"name": "library"}},
            }
        )
        app.register_blueprint(Blueprint("contacts", __name__))
        app.register_blueprint(Blueprint("library", __name__))

        with app.app_context():
            contacts = CfgTwoService.from_context(blueprint_name="contacts")
            library = CfgTwoService.from_context(blueprint_name="library")

        assert contacts is not library
        assert (contacts.name, library.name) == ("contacts", "library")

    def test_nested_blueprint_inherits_parent(self, make_app):
        """
        A nested blueprint uses its parent's configuration.
        """

        @dataclass
        class CfgNestedService(Service):
            name: str

        app = make_app({"parent": {"CfgNestedService": {"name": "parent"}}})
        parent = Blueprint("parent", __name__)
        child = Blueprint("child", __name__)

        @child.get("/name")
        def name():
            return CfgNestedService.from_context().name

        parent.register_blueprint(child, url_prefix="/child")
        app.register_blueprint(parent, url_prefix="/parent")

        assert app.test_client().get("/parent/child/name").text == "parent"

    def test_not_configured(self, make_app):
        """
        A class configured for no layer of the chain raises ServiceNotFoundError.
        """

        class CfgElsewhereService(Service):
            pass

        app = make_app({"api": {"CfgElsewhereService": {}}})

        with (
            app.app_context(),
            pytest.raises(
                ServiceNotFoundError,
                match=r"CfgElsewhereService in the app; blueprint 'api' has it",
            ),
        ):
            CfgElsewhereService.from_context()


class TestServiceView:
    def test_declared_service_gets_configured_instance(self, make_app):
        """
        A ServiceView declaring a Service class gets its blueprint's instance.
        """

        @dataclass
        class OAuth1Service(Service):
            consumer_key: str

        app = make_app(
            {
                APP_SERVICES: {"OAuth1Service": {"consumer_key": "app"}},
                "contacts": {"OAuth1Service": {"consumer_key": "contacts"}},
            }
        )
        bp = Blueprint("contacts", __name__)

        class Contacts(ServiceView):
            services = {"oauth": OAuth1Service}

            def get(self):
                return {
                    "key": self.oauth.consumer_key,
                    "same": self.oauth is OAuth1Service.from_context(),
                }

        bp.add_url_rule("/contacts", view_func=Contacts.as_view("contacts"))
        app.register_blueprint(bp)

        assert app.test_client().get("/contacts").json == {
            "key": "contacts",
            "same": True,
        }
        assert check_services(app) == []


class TestHooks:
    def test_ping_registered(self, make_app):
        """
        A Service with a ``ping`` method gets it registered as its ping.
        """

        @dataclass
        class CfgPingService(Service):
            pinged: list[str] = field(default_factory=list)

            def ping(self) -> None:
                self.pinged.append("ping")

        app = make_app({APP_SERVICES: {"CfgPingService": {}}})

        with app.app_context():
            (ping,) = get_pings()
            ping.ping()

            assert ping.name.endswith(".CfgPingService")
            assert CfgPingService.from_context().pinged == ["ping"]

    def test_no_ping(self, make_app):
        """
        A Service without ``ping`` has no ping registered.
        """

        class CfgQuietService(Service):
            pass

        app = make_app({APP_SERVICES: {"CfgQuietService": {}}})

        with app.app_context():
            assert get_pings() == []

    def test_context_manager_entered_and_exited(self, make_app):
        """
        A Service that is a context manager is entered on first use and exited
        at the app context's teardown.
        """
        events: list[str] = []

        class CfgSessionService(Service):
            def __init__(self, events: list[str]) -> None:
                self.events = events

            def __enter__(self):
                self.events.append("enter")
                return self

            def __exit__(self, *exc_info: object) -> None:
                self.events.append("exit")

        app = make_app({APP_SERVICES: {"CfgSessionService": {"events": events}}})

        with app.app_context():
            svc = CfgSessionService.from_context()
            assert events == ["enter"]

        assert isinstance(svc, CfgSessionService)
        assert events == ["enter", "exit"]


def _where(blueprint: object, entry: object) -> str:
    return re.escape(f"app.config['SERVICES'][{blueprint!r}][{entry!r}]: ")


class CfgPortService(Service):
    """
    A service that checks the type of its configured port at init_app.
    """

    built: ClassVar[list[object]] = []

    def __init__(self, port):  # pragma: no cover -- never built by the tests
        self.built.append(port)

    @classmethod
    def check_arguments(cls, *args, **kwargs):
        super().check_arguments(*args, **kwargs)
        if not isinstance(kwargs["port"], int):
            msg = f"port must be an int, got {kwargs['port']!r}"
            raise TypeError(msg)


class TestConfigurationErrors:
    def test_unknown_class_name(self, make_app):
        """
        A name no Service subclass has is rejected, naming the blueprint and
        the entry.
        """
        with pytest.raises(
            ConfigurationError,
            match=_where("api", "CfgNoSuchService")
            + re.escape(
                "no subclass of flask_servicecbv.Service is named "
                "'CfgNoSuchService'; import its module first or give its dotted path."
            ),
        ):
            make_app({"api": {"CfgNoSuchService": {}}})

    def test_ambiguous_class_name(self, make_app):
        """
        A name two subclasses share is rejected, listing both dotted paths.
        """

        twin = type("CfgTwinService", (Service,), {})

        with pytest.raises(
            ConfigurationError,
            match=_where("api", "CfgTwinService")
            + re.escape(
                "'CfgTwinService' is ambiguous (service_fixtures.CfgTwinService, "
                f"{twin.__module__}.CfgTwinService); give the dotted path."
            ),
        ):
            make_app({"api": {"CfgTwinService": {}}})

    def test_ambiguous_name_dotted_path_works(self, make_app):
        """
        The dotted path picks one of two subclasses that share a name.
        """

        twin = type("CfgTwinService", (Service,), {})
        app = make_app({"api": {"service_fixtures.CfgTwinService": {}}})
        app.register_blueprint(Blueprint("api", __name__))

        with app.app_context():
            svc = CfgTwinService.from_context(blueprint_name="api")
            with pytest.raises(ServiceNotFoundError, match="CfgTwinService"):
                twin.from_context(blueprint_name="api")

        assert type(svc) is CfgTwinService

    @pytest.mark.parametrize(
        ("path", "reason"),
        [
            ("cfg_no_such_module.Thing", "No module named 'cfg_no_such_module'"),
            (
                "service_fixtures.CfgMissingService",
                "module 'service_fixtures' has no attribute 'CfgMissingService'",
            ),
        ],
    )
    def test_dotted_path_fails_to_import(self, make_app, path, reason):
        """
        A dotted path that does not import is rejected with the import error.
        """
        with pytest.raises(
            ConfigurationError,
            match=_where("api", path)
            + re.escape(f"cannot import {path!r} ({reason}); fix the path."),
        ):
            make_app({"api": {path: {}}})

    @pytest.mark.parametrize("path", ["collections.OrderedDict", "os.path.join"])
    def test_dotted_path_not_a_service(self, make_app, path):
        """
        A dotted path to a class that is no Service subclass, or to something
        that is no class, is rejected.
        """
        with pytest.raises(
            ConfigurationError,
            match=_where(APP_SERVICES, path)
            + re.escape(
                f"{path!r} is not a subclass of flask_servicecbv.Service; subclass it."
            ),
        ):
            make_app({APP_SERVICES: {path: {}}})

    @pytest.mark.parametrize(
        ("services", "type_name"),
        [(["api"], "list"), ("api", "str"), (42, "int")],
    )
    def test_services_not_a_mapping(self, make_app, services, type_name):
        """
        ``SERVICES`` must be a mapping.
        """
        with pytest.raises(
            ConfigurationError,
            match=re.escape(
                "app.config['SERVICES'] must map blueprint names to "
                f"{{class: arguments}}, got {type_name}."
            ),
        ):
            make_app(services)

    @pytest.mark.parametrize(
        ("blueprint", "entries"),
        [
            ("api", ["service_fixtures.CfgDottedService"]),
            ("api", None),
            (1, {}),
        ],
    )
    def test_blueprint_value_not_a_mapping(self, make_app, blueprint, entries):
        """
        Each blueprint name must be a str mapping to a ``{class: arguments}``.
        """
        with pytest.raises(
            ConfigurationError,
            match=re.escape(
                f"app.config['SERVICES'][{blueprint!r}] must map class names "
                f"to arguments, with a str blueprint name; got {entries!r}."
            ),
        ):
            make_app({blueprint: entries})

    def test_class_key_not_a_str(self, make_app):
        """
        The class is given by name: a class object as key is rejected.
        """
        with pytest.raises(
            ConfigurationError,
            match=_where("api", CfgDottedService)
            + re.escape("the class must be given by name, as a str."),
        ):
            make_app({"api": {CfgDottedService: {"url": "db://"}}})

    @pytest.mark.parametrize(
        "spec",
        [
            "db://",
            None,
            ("db://",),
            (("db://",), {}, {}),
            ("db://", {}),
            (("db://",), ["timeout"]),
        ],
    )
    def test_bad_spec_shape(self, make_app, spec):
        """
        The arguments must be ``{kwargs}`` or ``((args...), {kwargs})``.
        """
        path = "service_fixtures.CfgDottedService"
        with pytest.raises(
            ConfigurationError,
            match=_where("api", path)
            + re.escape(
                "the arguments must be {kwargs} or ((args...), {kwargs}), "
                f"got {spec!r}."
            ),
        ):
            make_app({"api": {path: spec}})

    @pytest.mark.parametrize(
        ("spec", "reason"),
        [
            ({}, "missing a required argument: 'url'"),
            ({"url": "db://", "retries": 3}, "got an unexpected keyword argument"),
            ((("db://", 1.0, "extra"), {}), "too many positional arguments"),
            ((("db://",), {"url": "db://"}), "multiple values for argument 'url'"),
        ],
    )
    def test_constructor_rejects_arguments(self, make_app, spec, reason):
        """
        Arguments the constructor would reject fail at init_app, not at first
        use.
        """
        path = "service_fixtures.CfgDottedService"
        with pytest.raises(
            ConfigurationError,
            match=_where("contacts", path)
            + re.escape("CfgDottedService rejects these arguments (" + reason),
        ):
            make_app({"contacts": {path: spec}})

    @pytest.mark.parametrize(
        ("port", "error"), [(80, None), ("25", "port must be an int, got '25'")]
    )
    def test_check_arguments_hook(self, make_app, port, error):
        """
        A Service that overrides check_arguments() rejects bad values at
        init_app, without being built there.
        """
        CfgPortService.built.clear()

        if error is None:
            make_app({"api": {"CfgPortService": {"port": port}}})
        else:
            with pytest.raises(
                ConfigurationError,
                match=_where("api", "CfgPortService")
                + re.escape(f"CfgPortService rejects these arguments ({error})."),
            ):
                make_app({"api": {"CfgPortService": {"port": port}}})
        assert CfgPortService.built == []

    def test_failed_init_app_leaves_app_alone(self):
        """
        After a failed init_app the app has no registry and no commands.
        """
        app = Flask("config_app")
        app.config["SERVICES"] = {"api": {"CfgNoSuchService": {}}}

        with pytest.raises(ConfigurationError, match="CfgNoSuchService"):
            init_app(app)

        assert EXTENSION_KEY not in app.extensions
        assert "services" not in app.cli.commands
        with pytest.raises(NotInitializedError, match="has no service registry"):
            check_services(app)

    def test_retry_after_fix(self):
        """
        init_app succeeds once the configuration is corrected.
        """
        app = Flask("config_app")
        app.config["SERVICES"] = {"api": {"service_fixtures.CfgDottedService": {}}}
        with pytest.raises(ConfigurationError, match="rejects these arguments"):
            init_app(app)

        app.config["SERVICES"] = {
            "api": {"service_fixtures.CfgDottedService": {"url": "db://"}}
        }

        assert init_app(app) is app
        app.register_blueprint(Blueprint("api", __name__))
        with app.app_context():
            svc = CfgDottedService.from_context(blueprint_name="api")
        assert svc == CfgDottedService("db://")

    def test_bad_entry_registers_nothing(self):
        """
        configure_services checks every entry before registering any.
        """
        app = Flask("config_app")
        app.config["SERVICES"] = {
            APP_SERVICES: {"service_fixtures.CfgDottedService": {"url": "db://"}},
            "api": {"CfgNoSuchService": {}},
        }
        reg = Registry()

        with pytest.raises(ConfigurationError, match="CfgNoSuchService"):
            configure_services(app, reg)

        assert reg.layers == {None: {}}

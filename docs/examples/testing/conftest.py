from unittest.mock import Mock

import flask_servicecbv as svc
import pytest
from bookmarks import Database, create_app


@pytest.fixture(name="app")
def _app(tmp_path):
    """A fresh app for every test, with its own database file."""
    app = create_app(
        {"TESTING": True, "DATABASE": str(tmp_path / "test.db")}
    )
    yield app
    svc.close_registry(app)


@pytest.fixture(name="client")
def _client(app):
    return app.test_client()


@pytest.fixture(name="fake_db")
def _fake_db(app):
    """The requests of the test get this fake, not a Database."""
    fake = Mock(spec_set=Database)
    fake.bookmarks.return_value = ["https://example.com"]
    with app.app_context():
        svc.overwrite_value(Database, fake)
    return fake

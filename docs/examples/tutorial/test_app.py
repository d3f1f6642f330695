"""The tutorial's tests: what a client of the bookmarks API sees."""

from __future__ import annotations

import flask_servicecbv as svc
import pytest
from app import Bookmarks, create_app

FLASK = {"title": "Flask", "url": "https://flask.palletsprojects.com"}


@pytest.fixture(name="app")
def _app():
    """A fresh app, and so a fresh repository, for every test."""
    app = create_app({"TESTING": True})
    yield app
    svc.close_registry(app)


@pytest.fixture(name="client")
def _client(app):
    return app.test_client()


def test_create_then_read(client):
    """A created bookmark is at its Location."""
    created = client.post("/bookmarks/", json=FLASK)

    assert created.status_code == 201
    assert created.json == {"id": 1, **FLASK}
    location = created.headers["Location"]
    assert client.get(location).json == created.json


def test_invalid_body(client):
    """A body that breaks the schema is answered 422, field by field."""
    response = client.post("/bookmarks/", json={"title": ""})

    assert response.status_code == 422
    assert response.json["errors"] == {
        "json": {
            "title": ["Length must be between 1 and 80."],
            "url": ["Missing data for required field."],
        }
    }


def test_missing_item(client):
    """An id with no bookmark is answered 404, in JSON."""
    response = client.get("/bookmarks/7")

    assert response.status_code == 404
    assert response.json["message"] == "There is no item 7."


def test_a_fake_repository(app, client):
    """A test can swap the repository; the views never know."""
    fake = Bookmarks()
    fake.create({"title": "Fake", "url": "https://example.com"})
    with app.app_context():
        svc.overwrite_value(Bookmarks, fake)

    listed = client.get("/bookmarks/").json

    assert [item["title"] for item in listed["items"]] == ["Fake"]


def test_document(client):
    """The OpenAPI document lists both paths and the 422."""
    doc = client.get("/openapi.json").json

    assert doc["info"]["title"] == "Bookmarks"
    assert sorted(doc["paths"]) == [
        "/bookmarks/",
        "/bookmarks/{item_id}",
    ]
    post = doc["paths"]["/bookmarks/"]["post"]
    assert "422" in post["responses"]

from __future__ import annotations

import functools
import sqlite3

import pytest
from werkzeug.exceptions import InternalServerError

import flask_servicecbv
from example_api import create_app


@pytest.fixture(name="api")
def _api(tmp_path):
    return create_app({"TESTING": True, "DATABASE": str(tmp_path / "test.sqlite3")})


@pytest.fixture(name="api_client")
def _api_client(api):
    return api.test_client()


class TestBookmarks:
    def test_create_list_get_delete(self, api_client):
        """
        A bookmark can be created, listed, read and deleted.
        """
        assert api_client.get("/api/bookmarks").json == {"items": []}

        created = api_client.post(
            "/api/bookmarks", json={"url": "https://example.org/", "title": "Ex"}
        )

        assert created.status_code == 201
        assert created.json == {"id": 1, "url": "https://example.org/", "title": "Ex"}
        assert api_client.get("/api/bookmarks").json == {"items": [created.json]}
        assert api_client.get("/api/bookmarks/1").json == created.json
        assert api_client.delete("/api/bookmarks/1").status_code == 204
        assert api_client.get("/api/bookmarks").json == {"items": []}

    def test_invalid_input(self, api_client):
        """
        Invalid input is answered with 422 and the field messages, and nothing
        is stored.
        """
        resp = api_client.post("/api/bookmarks", json={"url": "not a url"})

        assert resp.status_code == 422
        assert set(resp.json["messages"]) == {"url", "title"}
        assert api_client.get("/api/bookmarks").json == {"items": []}

    @pytest.mark.parametrize("method", ["get", "delete"])
    def test_missing_bookmark(self, api_client, method):
        """
        An unknown id is a JSON 404.
        """
        resp = getattr(api_client, method)("/api/bookmarks/42")

        assert resp.status_code == 404
        assert resp.json == {"error": "Not Found", "message": "No bookmark 42."}

    @pytest.mark.parametrize(
        ("method", "path", "body"),
        [
            ("post", "/api/bookmarks", {"url": "https://a.org/", "title": "A"}),
            ("delete", "/api/bookmarks/1", None),
        ],
        ids=["post", "delete"],
    )
    def test_failed_commit_is_an_error(  # noqa: PLR0917 -- fixtures and params
        self, api, api_client, monkeypatch, method, path, body
    ):
        """
        A write whose commit fails ("database is locked") is answered with a
        JSON 500 that does not leak the database's message, not with a
        success, and changes nothing: the repository commits inside the
        request, not in the connection's cleanup, whose errors are only logged.
        """
        created = api_client.post(
            "/api/bookmarks", json={"url": "https://example.org/", "title": "Ex"}
        )
        api.testing = False
        # No busy timeout: a locked database fails at once instead of after 5 s.
        monkeypatch.setattr(
            sqlite3, "connect", functools.partial(sqlite3.connect, timeout=0)
        )
        # A reader in an open transaction holds a shared lock: the writer may
        # still INSERT or DELETE, but its COMMIT cannot take the exclusive lock.
        reader = sqlite3.connect(api.config["DATABASE"], isolation_level=None)
        reader.execute("BEGIN")
        reader.execute("SELECT COUNT(*) FROM bookmark").fetchone()

        try:
            resp = api_client.open(path, method=method, json=body)
        finally:
            reader.rollback()
            reader.close()

        assert resp.status_code == 500
        assert resp.json == {
            "error": "Internal Server Error",
            "message": InternalServerError.description,
        }
        assert "locked" not in resp.get_data(as_text=True)
        assert api_client.get("/api/bookmarks").json == {"items": [created.json]}

    def test_rolls_back_on_error(self, api, tmp_path):
        """
        An unhandled error in a request rolls back what the request wrote and
        did not commit: the connection's generator factory sees the exception
        at teardown.
        """
        api.testing = False

        @api.route("/boom")
        def boom():
            conn = flask_servicecbv.get(sqlite3.Connection)
            conn.execute(
                "INSERT INTO bookmark (url, title) VALUES (?, ?)",
                ("https://example.org/", "lost"),
            )
            msg = "boom"
            raise RuntimeError(msg)

        assert api.test_client().get("/boom").status_code == 500
        with sqlite3.connect(tmp_path / "test.sqlite3") as conn:
            assert conn.execute("SELECT COUNT(*) FROM bookmark").fetchone() == (0,)
        conn.close()


class TestWiring:
    def test_health(self, api_client):
        """
        The health endpoint pings the database.
        """
        resp = api_client.get("/health")

        assert resp.status_code == 200
        assert resp.json == {"status": "ok", "services": {"sqlite3.Connection": "ok"}}

    def test_all_services_resolve(self, api):
        """
        Every service the views declare is registered.
        """
        assert flask_servicecbv.check_services(api) == []

    def test_default_database_in_instance_folder(self, monkeypatch, tmp_path):
        """
        Without configuration the database is a file in the instance folder.
        """
        monkeypatch.setattr(
            "flask.Flask.auto_find_instance_path", lambda _: str(tmp_path)
        )

        app = create_app()

        assert app.config["DATABASE"] == str(tmp_path / "bookmarks.sqlite3")
        assert (tmp_path / "bookmarks.sqlite3").exists()

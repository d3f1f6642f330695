import pytest
from bookmarks import Database


def test_lists_bookmarks(client):
    response = client.get("/bookmarks")

    assert response.json == {
        "items": ["https://flask.palletsprojects.com"]
    }


def test_with_a_fake(client, fake_db):
    response = client.get("/bookmarks")

    assert response.json == {"items": ["https://example.com"]}
    fake_db.bookmarks.assert_called_once_with()


def test_closes_the_database(client, monkeypatch):
    closed = []
    close = Database.close

    def spy(self):
        closed.append(self)
        close(self)

    monkeypatch.setattr(Database, "close", spy)

    client.get("/bookmarks")

    assert len(closed) == 1


def test_health_fails_with_the_database(client, fake_db):
    fake_db.ping.side_effect = ConnectionError("refused")

    response = client.get("/health")

    assert response.status_code == 503
    assert response.json["failing"] == ["bookmarks.Database"]


@pytest.mark.parametrize("path", ["/bookmarks", "/health"])
def test_answers(client, path):
    assert client.get(path).status_code == 200

import pytest

from microblog import create_app, db
from microblog.config import Config
from microblog.models import User


class TestConfig(Config):
    TESTING = True
    SQLALCHEMY_DATABASE_URI = "sqlite://"
    WTF_CSRF_ENABLED = False


class AuthActions:
    def __init__(self, client):
        self._client = client

    def login(self, username="test", password="test"):
        return self._client.post("/auth/login", data={"username": username, "password": password})


@pytest.fixture
def client():
    app = create_app(TestConfig)
    with app.app_context():
        db.create_all()
        yield app.test_client()
        db.drop_all()


@pytest.fixture
def auth(client):
    return AuthActions(client)


def test_password_hashing():
    user = User(username="susan", email="susan@example.com")
    user.set_password("cat")
    assert not user.check_password("dog")
    assert user.check_password("cat")


def test_login(client, auth):
    user = User(username="test", email="test@example.com", password_hash=None)
    user.set_password(password="test")
    db.session.add(user)
    db.session.commit()
    assert auth.login().status_code == 302
    assert auth.login(password="wrong").headers["Location"] == "/auth/login"

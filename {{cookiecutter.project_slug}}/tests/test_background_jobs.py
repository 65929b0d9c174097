"""Your background jobs: a view enqueues, a worker runs the job, the view shows the result.

Against a real Redis, `redis_url`: TEST_REDIS_URL's, or a throwaway redis-server the
template's harness starts (tests/serving/harness/redis_server.py). The worker here is RQ's
SimpleWorker in this process, in burst mode (it runs what is queued, then returns):
the same job code and Redis as `python -m {{ cookiecutter.package_name }} worker`, without a second process.
"""

import os

import pytest
from rq import SimpleWorker

from {{ cookiecutter.package_name }}.serving import jobs


@pytest.fixture
def app(app, redis_url, monkeypatch):
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("WORKER_QUEUES", f"test-{os.getpid()}-{id(app)}")
    return app


def run_queued_jobs(app):
    with app.app_context():
        SimpleWorker([jobs.queue()], connection=jobs.redis_connection()).work(burst=True)


def test_a_view_enqueues_and_the_result_is_visible(app, client):
    response = client.post("/jobs/count-words", data="three little words")
    assert response.status_code == 202
    job_url = response.get_json()["url"]
    assert client.get(job_url).get_json()["status"] == "queued"
    run_queued_jobs(app)
    assert client.get(job_url).get_json() == {
        "id": response.get_json()["id"],
        "status": "finished",
        "result": 3,
    }


def test_an_unknown_job_is_a_404(client):
    assert client.get("/jobs/no-such-job").status_code == 404

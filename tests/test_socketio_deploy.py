"""Socket.IO's Redis on every platform (websockets=socketio), with or without background jobs.

Socket.IO uses REDIS_URL as its message queue, so rooms and broadcasts reach every
worker and instance; without it the service runs one worker. So a socketio bake's
deploy files provide Redis and give the web process REDIS_URL on every platform, as an
rq bake's do, and add nothing of the worker (test_worker_deploy.py checks rq's). The
files pass the same offline checks as the web process's, through the helpers of
test_deploy_files.py, test_deploy_targets.py and test_worker_deploy.py.
"""

import json
import tomllib

import jsonschema
import pytest
import yaml
from test_deploy_files import (
    gcloud_parses,
    load_settings_module,
    schema,
    validate,
)
from test_deploy_targets import (
    KUBE,
    KUBERNETES_VERSIONS,
    SYSTEMD,
    base_objects,
    command_lines,
    kube_validate,
    run_gcloud_lines,
    shell_blocks,
)
from test_worker_deploy import PLACEHOLDER_REDIS, evaluated_railway, filled

SOCKETIO_BAKES = {
    "socketio": {"websockets": "socketio", "deploy_systemd": "yes"},
    "socketio-postgresql-scheduled": {
        "websockets": "socketio",
        "database": "postgresql",
        "scheduled_jobs": "yes",
        "deploy_systemd": "yes",
    },
}


@pytest.fixture(params=list(SOCKETIO_BAKES), scope="module")
def project(request, bake):
    return bake(**SOCKETIO_BAKES[request.param])


def web_env_names(container):
    return {item["name"] for item in container["env"]}


def test_every_platform_gives_web_redis_and_runs_no_worker(project):
    """Nothing of the worker: Socket.IO needs Redis, not a second process."""
    assert "worker" not in (project / "Procfile").read_text()
    assert "run" not in yaml.safe_load((project / "heroku.yml").read_text())
    assert set(json.loads((project / "app.json").read_text())["formation"]) == {"web"}
    assert "processes" not in tomllib.loads((project / "fly.toml").read_text())
    assert f"{project.name}-worker" not in (project / ".railway/railway.ts").read_text()
    assert not list((project / KUBE / "base").glob("worker-*"))
    assert not (project / "deploy/cloudrun/worker-pool.yaml").exists()
    assert not (project / SYSTEMD / f"{project.name}-worker.service").exists()
    compose = yaml.safe_load((project / "compose.yaml").read_text())["services"]
    assert "worker" not in compose
    for path in (project / "docs").glob("deploy-*.md"):
        text = path.read_text()
        assert "## Background worker" not in text, path.name
        assert "## Socket.IO's Redis" in text or path.name == "deploy-kubernetes.md", path.name
    # With REDIS_URL set, the settings give Socket.IO its message queue: every worker.
    settings = load_settings_module(project).load_settings({"REDIS_URL": PLACEHOLDER_REDIS})
    assert settings.socketio_message_queue == PLACEHOLDER_REDIS


def test_compose_starts_redis_with_web(project):
    services = yaml.safe_load((project / "compose.yaml").read_text())["services"]
    web, redis = services["web"], services["redis"]
    assert web["environment"]["REDIS_URL"] == "redis://redis:6379/0"
    assert web["depends_on"]["redis"] == {"condition": "service_started"}
    assert "ports" not in redis, "only the project's network reaches it"


def test_heroku_asks_for_the_key_value_add_on(project):
    app = json.loads((project / "app.json").read_text())
    validate(app, schema("heroku-app-json.schemastore-pr1092.json"), jsonschema.Draft7Validator)
    # The add-on sets REDIS_URL; its certificate is self-signed (serving/socketio.py).
    assert {"plan": "heroku-redis:mini", "as": "REDIS"} in app["addons"]
    assert "REDIS_URL" not in app["env"] and "WORKER_STOP_TIMEOUT" not in app["env"]
    assert app["env"]["REDIS_TLS_VERIFY"]["value"] == "no"
    settings = load_settings_module(project).load_settings(
        {"REDIS_URL": "rediss://:p@ec2.example:6379", "REDIS_TLS_VERIFY": "no"}
    )
    assert settings.socketio_redis_tls_verify is False
    guide = (project / "docs/deploy-heroku.md").read_text()
    assert "heroku addons:create heroku-redis:mini --as REDIS" in guide
    assert "heroku config:set REDIS_TLS_VERIFY=no" in guide


def test_render_gives_web_the_key_value_instance(project):
    blueprint = yaml.safe_load((project / "render.yaml").read_text())
    validate(blueprint, schema("render-blueprint.schema.json"))
    web, keyvalue = blueprint["services"][:2]
    assert (web["type"], keyvalue["type"]) == ("web", "keyvalue")
    assert [s["type"] for s in blueprint["services"]].count("worker") == 0
    source = {"type": "keyvalue", "name": keyvalue["name"], "property": "connectionString"}
    assert {"key": "REDIS_URL", "fromService": source} in web["envVars"]
    assert keyvalue["ipAllowList"] == [] and keyvalue["plan"] != "free"
    assert keyvalue["region"] == web["region"], "the internal URL works within one region"


def test_fly_guide_sets_the_redis_secret(project):
    config = tomllib.loads((project / "fly.toml").read_text())
    assert "REDIS_URL" not in config["env"], "a secret, set with `fly secrets set`"
    guide = (project / "docs/deploy-fly.md").read_text()
    assert f"fly redis create --name {project.name}-redis --region {config['primary_region']} " in (
        guide
    )
    assert "fly secrets set REDIS_URL=" in guide


def test_railway_gives_web_its_redis(project, tmp_path):
    resources = {r["name"]: r for r in evaluated_railway(project, tmp_path)["resources"]}
    web, redis = resources[project.name], resources["Redis"]
    assert (redis["type"], redis["engine"]) == ("database", "redis")
    assert f"{project.name}-worker" not in resources
    reference = {"type": "reference", "resource": redis["address"], "output": "REDIS_URL"}
    assert web["variables"]["REDIS_URL"] == reference


def test_kubernetes_web_pods_read_redis_url_and_reach_redis(project):
    objects = base_objects(project)
    for version in KUBERNETES_VERSIONS:
        for obj in objects:
            kube_validate(obj, version)
    (deployment,) = [o for o in objects if o["kind"] == "Deployment"]
    (web,) = deployment["spec"]["template"]["spec"]["containers"]
    assert "REDIS_URL_FILE" in web_env_names(web)
    (policy,) = [o for o in objects if o["kind"] == "NetworkPolicy"]
    assert {"ports": [{"port": 6379, "protocol": "TCP"}]} in policy["spec"]["egress"]
    # REDIS_URL is optional for every command but web's scaling: the release Job
    # (and a CronJob's tick) need none.
    for job in (o for o in objects if o["kind"] in ("Job", "CronJob")):
        spec = job["spec"].get("jobTemplate", job)["spec"]["template"]["spec"]
        (container,) = spec["containers"]
        assert "REDIS_URL_FILE" not in web_env_names(container), job["kind"]
    guide = (project / "docs/deploy-kubernetes.md").read_text()
    assert "--from-literal=REDIS_URL=" in guide


def test_systemd_env_names_the_local_redis(project):
    env = dict(
        line.split("=", 1)
        for line in (project / SYSTEMD / "env.example").read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert env["REDIS_URL"] == "redis://127.0.0.1:6379/0"  # Debian's, on the loopback
    assert "sudo apt-get install redis-server" in (project / "docs/deploy-systemd.md").read_text()


def test_cloud_run_service_reads_the_redis_secret_through_the_vpc(project, tmp_path):
    folder = project / "deploy/cloudrun"
    gcloud_parses(
        filled(folder / "service.yaml", tmp_path),
        "run",
        "services",
        "replace",
        "--dry-run",
        tmp_path=tmp_path,
    )
    service = yaml.safe_load((folder / "service.yaml").read_text())
    template = service["spec"]["template"]
    (web,) = template["spec"]["containers"]
    refs = {i["name"]: i["valueFrom"]["secretKeyRef"] for i in web["env"] if "valueFrom" in i}
    assert refs["REDIS_URL"] == {"name": f"{project.name}-redis-url", "key": "latest"}
    annotations = template["metadata"]["annotations"]
    assert annotations["run.googleapis.com/network-interfaces"] == (
        '[{"network":"default","subnetwork":"default"}]'
    )
    assert annotations["run.googleapis.com/vpc-access-egress"] == "private-ranges-only"
    job = yaml.safe_load((folder / "release-job.yaml").read_text())
    (release,) = job["spec"]["template"]["spec"]["template"]["spec"]["containers"]
    assert "REDIS_URL" not in web_env_names(release), "only web reads it"
    # The guide makes the Memorystore instance and its secret, and its plain path's
    # service gets the same secret and egress.
    guide = (project / "docs/deploy-cloud-run.md").read_text()
    lines = [line for block in shell_blocks(guide) for line in command_lines(block)]
    ran = run_gcloud_lines(lines, project, tmp_path)
    assert any(line.startswith("gcloud redis instances create ") for line in ran)
    assert any(f"gcloud secrets create {project.name}-redis-url " in line for line in ran)
    (deploy,) = [line for line in lines if line.startswith("gcloud run deploy ")]
    assert f"REDIS_URL={project.name}-redis-url:latest" in deploy
    assert "--vpc-egress private-ranges-only" in deploy
    (release_deploy,) = [line for line in lines if line.startswith("gcloud run jobs deploy ")]
    assert "REDIS_URL" not in release_deploy

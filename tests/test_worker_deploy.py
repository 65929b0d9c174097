"""The background worker on every platform (background_jobs=rq), and nothing of it without.

Each deploy file runs the worker from the same image with the start command's `worker`,
gives it no HTTP check, and gives its current job a WORKER_STOP_TIMEOUT that ends
before the platform's SIGKILL with a margin; its Redis comes with it and web reads the
same REDIS_URL. The files pass the same offline checks as the web process's (schemas,
`kubectl kustomize` and kubernetes-validate, `systemd-analyze verify`, gcloud's parser,
the Railway SDK), through the helpers of test_deploy_files.py and
test_deploy_targets.py. A `none` bake has none of it.
"""

import importlib
import json
import os
import re
import shlex
import shutil
import subprocess
import tomllib

import jsonschema
import pytest
import yaml
from test_deploy_files import (
    EVALUATE,
    EXAMPLE_PROJECT,
    PROJECT_PLACEHOLDER,
    TRACES,
    check,
    documentation,
    gcloud_parses,
    load_settings_module,
    node_tools,
    railway_sdk,
    schema,
    start_command,
    tool,
    validate,
    workflows_of,
)
from test_deploy_targets import (
    KUBE,
    KUBERNETES_VERSIONS,
    SYSTEMD,
    base_objects,
    command_lines,
    flags,
    kube_validate,
    rendered_overlay,
    run_gcloud_lines,
    shell_blocks,
    systemd_analyze,
    unit,
    unit_environment,
    unit_files,
    verify_root,
)

from conftest import NO_TARGETS, uses_postgres

# Seconds a stopping worker needs after WORKER_STOP_TIMEOUT: the requeue and the exit
# (under 1 s measured, docs/background-jobs.md), with room on a busy host.
STOP_MARGIN = 2
RQ_BAKES = {
    "rq": {"background_jobs": "rq", "deploy_systemd": "yes"},
    "rq-postgresql": {"background_jobs": "rq", "database": "postgresql", "deploy_systemd": "yes"},
    "rq-long-names": {
        "background_jobs": "rq",
        "deploy_systemd": "yes",
        "project_slug": "a" + "-b" * 24,  # 49 characters, Cloud Run's limit
        "package_name": "a_1",
    },
}
# A REDIS_URL for the settings check, where the platform fills in the real one.
PLACEHOLDER_REDIS = "redis://:placeholder@redis.example:6379/0"


@pytest.fixture(params=list(RQ_BAKES), scope="module")
def project(request, bake):
    return bake(**RQ_BAKES[request.param])


def worker_command(project):
    return f"{start_command(project)} worker"


def jobs_settings_module(project):
    """The baked project's jobs_settings.py, beside settings.py (standard library only)."""
    package = load_settings_module(project).__name__.rpartition(".")[0]
    return importlib.import_module(f"{package}.jobs_settings")


def stop_timeout(project, env):
    """The WORKER_STOP_TIMEOUT the worker's settings read from a deploy file's env."""
    jobs = jobs_settings_module(project)
    # Mounted secret files are the platform's: the placeholder stands in for them.
    env = {name: value for name, value in env.items() if not name.endswith("_FILE")}
    return jobs.load_job_settings({"REDIS_URL": PLACEHOLDER_REDIS, **env}).stop_timeout


def fits(project, env, grace):
    """The job's bound plus the margin ends before the platform's SIGKILL."""
    bound = stop_timeout(project, env)
    assert bound + STOP_MARGIN <= grace, f"WORKER_STOP_TIMEOUT={bound} in a {grace} s grace"
    return bound


# ---- none: nothing of the worker ------------------------------------------------


def test_a_bake_without_background_jobs_has_no_worker_anywhere(bake):
    project = bake(deploy_systemd="yes")
    assert "worker" not in (project / "Procfile").read_text()
    assert "run" not in yaml.safe_load((project / "heroku.yml").read_text())
    app = json.loads((project / "app.json").read_text())
    assert set(app["formation"]) == {"web"} and "addons" not in app
    blueprint = yaml.safe_load((project / "render.yaml").read_text())
    assert [s["type"] for s in blueprint["services"]] == ["web"]
    fly = tomllib.loads((project / "fly.toml").read_text())
    assert "processes" not in fly and "processes" not in fly["http_service"]
    assert "worker" not in (project / ".railway/railway.ts").read_text()
    kinds = [obj["kind"] for obj in base_objects(project)]
    assert kinds.count("Deployment") == 1 and kinds.count("PodDisruptionBudget") == 1
    assert not list((project / KUBE / "base").glob("worker-*"))
    assert not (project / "deploy/cloudrun/worker-pool.yaml").exists()
    assert sorted(p.name for p in (project / SYSTEMD).glob("*.service")) == sorted(
        p.name for p in unit_files(project)
    )
    for path in (project / "docs").glob("deploy-*.md"):
        assert "## Background worker" not in path.read_text(), path.name


def test_an_rq_bake_without_targets_names_none_of_them(bake):
    project = bake(background_jobs="rq", **NO_TARGETS)
    text = documentation(project)
    for answer_name, traces in TRACES.items():
        if answer_name.startswith("deploy_"):
            for trace in traces:
                assert trace not in text, trace
    for relative in re.findall(r"\]\(([\w.-]+\.md)\)", text):
        assert (project / "docs" / relative).exists() or (project / relative).exists(), relative


# ---- Heroku ---------------------------------------------------------------------


def test_heroku_runs_the_worker_dyno_with_its_redis(project):
    manifest = yaml.safe_load((project / "heroku.yml").read_text())
    # Once `run` exists Heroku takes every process type from it: web is the CMD.
    assert manifest["run"] == {
        "web": start_command(project),
        "worker": {"command": [worker_command(project)], "image": "web"},
    }
    assert manifest["build"]["docker"] == {"web": "Dockerfile"}, "one image"
    procfile = (project / "Procfile").read_text()
    assert f"worker: PYTHONPATH=src {worker_command(project)}\n" in procfile

    app = json.loads((project / "app.json").read_text())
    validate(app, schema("heroku-app-json.schemastore-pr1092.json"), jsonschema.Draft7Validator)
    assert app["formation"]["worker"]["quantity"] >= 1
    # The add-on sets REDIS_URL (as REDIS) for every dyno; never a value of the file.
    assert {"plan": "heroku-redis:mini", "as": "REDIS"} in app["addons"]
    assert "REDIS_URL" not in app["env"]
    env = {name: spec["value"] for name, spec in app["env"].items() if "value" in spec}
    fits(project, env, grace=30)  # Heroku's SIGKILL, 30 s after SIGTERM
    # Its certificate is self-signed: encrypted, not verified (serving/jobs.py).
    assert env["REDIS_TLS_VERIFY"] == "no"
    jobs = jobs_settings_module(project)
    settings = jobs.load_job_settings({**env, "REDIS_URL": "rediss://:p@ec2.example:6379"})
    assert settings.tls_verify is False

    # The guide's lines set every app.json value, for an app made with `heroku create`.
    guide = (project / "docs/deploy-heroku.md").read_text()
    config_sets = re.findall(r"^heroku config:set (.*)$", guide, re.MULTILINE)
    pairs = {}
    for line in config_sets:
        # Random secrets (SECRET_KEY, METRICS_TOKEN) are set on lines of their own.
        if "secrets.token_urlsafe" not in line:
            pairs.update(pair.replace("'", "").split("=", 1) for pair in line.split())
    assert pairs == env
    assert "heroku addons:create heroku-redis:mini --as REDIS" in guide


# ---- Render ---------------------------------------------------------------------


def test_render_worker_service_and_key_value_instance(project):
    blueprint = yaml.safe_load((project / "render.yaml").read_text())
    validate(blueprint, schema("render-blueprint.schema.json"))
    web, worker, keyvalue = blueprint["services"]
    assert (web["type"], worker["type"], keyvalue["type"]) == ("web", "worker", "keyvalue")
    # The same image: the same Dockerfile and context, the start command's `worker`.
    for key in ("runtime", "dockerfilePath", "dockerContext", "region", "autoDeployTrigger"):
        assert worker[key] == web[key], key
    assert worker["dockerCommand"] == worker_command(project)
    assert "healthCheckPath" not in worker and "preDeployCommand" not in worker
    assert worker["name"] == f"{project.name}-worker"
    env = {v["key"]: str(v["value"]) for v in worker["envVars"] if "value" in v}
    fits(project, env, grace=worker["maxShutdownDelaySeconds"])
    # Both read the Key Value instance's internal URL; the worker shares web's key.
    redis_url = {
        "key": "REDIS_URL",
        "fromService": {
            "type": "keyvalue",
            "name": keyvalue["name"],
            "property": "connectionString",
        },
    }
    assert redis_url in web["envVars"] and redis_url in worker["envVars"]
    assert {
        "key": "SECRET_KEY",
        "fromService": {"type": "web", "name": web["name"], "envVarKey": "SECRET_KEY"},
    } in worker["envVars"]
    if uses_postgres(project):
        assert any(v.get("fromDatabase") for v in worker["envVars"])
    # A queue never evicts a job; nothing outside Render connects; Free keeps nothing.
    assert keyvalue["maxmemoryPolicy"] == "noeviction"
    assert keyvalue["ipAllowList"] == [] and keyvalue["plan"] != "free"
    assert keyvalue["region"] == web["region"]


# ---- Fly.io ---------------------------------------------------------------------


def test_fly_worker_process_group_has_no_http_service(project):
    config = tomllib.loads((project / "fly.toml").read_text())
    validate(config, schema("fly.json"), jsonschema.Draft7Validator)
    assert config["processes"] == {
        "web": start_command(project),
        "worker": worker_command(project),
    }
    # The service and its /health check are web's only; no [[services]] at all.
    assert config["http_service"]["processes"] == ["web"]
    assert "services" not in config
    # So is the metrics scrape: the worker runs no gunicorn, nothing listens there.
    assert config["metrics"]["processes"] == ["web"]
    # kill_timeout applies to every process group.
    fits(project, config["env"], grace=config["kill_timeout"])
    assert "REDIS_URL" not in config["env"], "a secret, set with `fly secrets set`"
    guide = (project / "docs/deploy-fly.md").read_text()
    assert f"fly redis create --name {project.name}-redis --region {config['primary_region']} " in (
        guide
    )
    assert "--disable-eviction" in guide and "fly secrets set REDIS_URL=" in guide


# ---- Railway --------------------------------------------------------------------


@pytest.fixture(scope="module")
def railway(project, tmp_path_factory):
    return evaluated_railway(project, tmp_path_factory.mktemp("railway-worker"))


def evaluated_railway(project, work):
    """railway.ts type-checked and evaluated with the pinned SDK: the project it makes."""
    node_tools()
    folder = project / ".railway"
    pins = json.loads((folder / "package.json").read_text())["devDependencies"]
    for name in ("railway.ts", "tsconfig.json", "package.json"):
        shutil.copy(folder / name, work / name)
    (work / "node_modules").symlink_to(railway_sdk(pins), target_is_directory=True)
    (work / "evaluate.mts").write_text(EVALUATE)
    bin_dir = work / "node_modules" / ".bin"
    environment = {"TSX_DISABLE_CACHE": "1", "TMPDIR": str(work)}
    run = {
        "cwd": work,
        "env": {**os.environ, **environment},
        "capture_output": True,
        "text": True,
        "timeout": 120,
    }
    typecheck = subprocess.run([bin_dir / "tsc", "--noEmit", "-p", "tsconfig.json"], **run)
    assert typecheck.returncode == 0, typecheck.stdout + typecheck.stderr
    evaluated = subprocess.run([bin_dir / "tsx", "evaluate.mts", str(work / "railway.ts")], **run)
    assert evaluated.returncode == 0, evaluated.stderr
    return json.loads(evaluated.stdout)


def test_railway_worker_service_and_redis(project, railway):
    resources = {r["name"]: r for r in railway["resources"]}
    web, worker, redis = (
        resources[project.name],
        resources[f"{project.name}-worker"],
        resources["Redis"],
    )
    assert (redis["type"], redis["engine"]) == ("database", "redis")
    assert (
        worker["build"] == web["build"] == {"builder": "DOCKERFILE", "dockerfilePath": "Dockerfile"}
    )
    deploy = worker["deploy"]
    assert deploy["startCommand"] == worker_command(project)
    # No healthcheck: it serves no port; and no release step of its own.
    assert "healthcheckPath" not in deploy and "preDeployCommand" not in deploy
    assert deploy["restartPolicyType"] == "ON_FAILURE"
    literal = {n: v["value"] for n, v in worker["variables"].items() if v["type"] == "literal"}
    fits(project, literal, grace=deploy["drainingSeconds"])
    reference = {"type": "reference", "resource": redis["address"], "output": "REDIS_URL"}
    assert web["variables"]["REDIS_URL"] == worker["variables"]["REDIS_URL"] == reference
    assert worker["variables"]["SECRET_KEY"] == {
        "type": "reference",
        "resource": web["address"],
        "output": "SECRET_KEY",
    }


# ---- Kubernetes -----------------------------------------------------------------


def component(obj):
    return obj["metadata"]["labels"]["app.kubernetes.io/component"]


def test_kubernetes_worker_objects_pass_the_schemas_and_render(project):
    base, rendered = base_objects(project), rendered_overlay(project)
    for version in KUBERNETES_VERSIONS:
        for obj in base + rendered:
            kube_validate(obj, version)
    workers = [obj for obj in rendered if component(obj) == "worker"]
    assert sorted(obj["kind"] for obj in workers) == ["Deployment", "PodDisruptionBudget"]
    overlay = yaml.safe_load((project / KUBE / "overlays/example/kustomization.yaml").read_text())
    (image,) = overlay["images"]
    (deployment,) = [obj for obj in workers if obj["kind"] == "Deployment"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["image"] == f"{image['newName']}:{image['newTag']}", "the web image"
    assert len(deployment["metadata"]["name"]) <= 63
    # The guide applies the worker with web, after the release Job.
    guide = (project / "docs/deploy-kubernetes.md").read_text()
    assert "-l 'app.kubernetes.io/component in (web,worker)'" in guide
    assert f"rollout status deployment/{project.name}-worker" in guide


def test_kubernetes_worker_has_no_http_probe_and_stops_within_its_grace(project):
    objects = base_objects(project)
    deployments = {component(o): o for o in objects if o["kind"] == "Deployment"}
    web_pod = deployments["web"]["spec"]["template"]["spec"]
    worker = deployments["worker"]
    pod = worker["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    (web_container,) = web_pod["containers"]
    assert " ".join([*container["command"], *container["args"]]) == worker_command(project)
    assert container["image"] == web_container["image"] == "IMAGE"
    # No port, no HTTP anywhere: an exec of the image's healthcheck on the heartbeat.
    assert "ports" not in container and "httpGet" not in yaml.safe_dump(container)
    assert "readinessProbe" not in container and "lifecycle" not in container
    (package,) = [p.parent.name for p in project.glob("src/*/__init__.py")]
    probe = ["python", "-m", f"{package}.serving.healthcheck", "worker"]
    for name in ("startupProbe", "livenessProbe"):
        assert container[name]["exec"]["command"] == probe, name
    # Liveness gives up only well after the heartbeat file is stale (45 s): a Redis
    # restart, which the worker waits out itself, restarts nothing.
    liveness = container["livenessProbe"]
    assert liveness["periodSeconds"] * liveness["failureThreshold"] >= 60
    env = {item["name"]: item["value"] for item in container["env"]}
    fits(project, env, grace=pod["terminationGracePeriodSeconds"])
    # The web pods' hardening, Secret files and volumes.
    for key in ("securityContext", "automountServiceAccountToken", "enableServiceLinks"):
        assert pod[key] == web_pod[key], key
    assert container["securityContext"] == web_container["securityContext"]
    assert pod["volumes"] == web_pod["volumes"]
    assert container["volumeMounts"] == web_container["volumeMounts"]
    web_files = {i["name"]: i["value"] for i in web_container["env"] if i["name"].endswith("_FILE")}
    files = {name: value for name, value in env.items() if name.endswith("_FILE")}
    assert files == web_files and "REDIS_URL_FILE" in files
    # Readiness of the web pods never looks at the worker.
    assert web_container["readinessProbe"]["httpGet"]["path"] == "/ready"
    # Its own budget; never the web pods' objects.
    (budget,) = [
        o for o in objects if o["kind"] == "PodDisruptionBudget" and component(o) == "worker"
    ]
    labels = worker["spec"]["template"]["metadata"]["labels"]
    assert budget["spec"]["selector"]["matchLabels"] == worker["spec"]["selector"]["matchLabels"]
    assert budget["spec"]["selector"]["matchLabels"] == labels
    assert worker["spec"]["replicas"] > budget["spec"]["maxUnavailable"]
    for obj in objects:
        selector = obj.get("spec", {}).get("selector", {})
        selector = selector.get("matchLabels", selector) if isinstance(selector, dict) else {}
        if component(obj) == "web" and selector:
            assert not selector.items() <= labels.items(), obj["kind"]
    # The pods reach Redis's port; the release Job gets REDIS_URL_FILE too.
    (policy,) = [o for o in objects if o["kind"] == "NetworkPolicy"]
    assert {"ports": [{"port": 6379, "protocol": "TCP"}]} in policy["spec"]["egress"]
    (job,) = [o for o in objects if o["kind"] == "Job"]
    (job_container,) = job["spec"]["template"]["spec"]["containers"]
    assert "REDIS_URL_FILE" in {item["name"] for item in job_container["env"]}
    guide = (project / "docs/deploy-kubernetes.md").read_text()
    assert "--from-literal=REDIS_URL=" in guide


# ---- systemd --------------------------------------------------------------------


def test_systemd_worker_unit_verifies_and_stops_within_its_grace(project, tmp_path):
    path = project / SYSTEMD / f"{project.name}-worker.service"
    root = verify_root(project, tmp_path)
    result = systemd_analyze(
        "verify", f"--root={root}", str(root / "etc/systemd/system" / path.name)
    )
    assert result.returncode == 0 and not (result.stdout + result.stderr).strip(), result.stderr
    worker, web = unit(path), unit(unit_files(project)[0])
    values = dict(worker["Service"])
    command = worker_command(project).removeprefix("python ")
    assert values["ExecStart"] == f"/srv/{project.name}/current/.venv/bin/python {command}"
    # SIGTERM to the worker, never to the job's process; SIGKILL after its grace.
    assert values["KillMode"] == "mixed" and values["KillSignal"] == "SIGTERM"
    fits(project, unit_environment(worker["Service"]), grace=int(values["TimeoutStopSec"]))
    assert values["Restart"] == "on-failure" and values["RestartPreventExitStatus"] == "2"
    # The web unit's user, data, configuration and hardening, line for line.
    # (ExecReload: a reload is gunicorn's; the worker is restarted with a new release.)
    skip = {
        "ExecStart",
        "ExecReload",
        "Type",
        "NotifyAccess",
        "Environment",
        "TimeoutStopSec",
        "LimitNOFILE",
    }
    web_lines = [(k, v) for k, v in web["Service"] if k not in skip and not k.startswith("Restart")]
    worker_lines = [(k, v) for k, v in worker["Service"] if k not in skip]
    assert [line for line in web_lines if line not in worker_lines] == []
    assert dict(worker["Install"]) == dict(web["Install"])
    env = dict(
        line.split("=", 1)
        for line in (project / SYSTEMD / "env.example").read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert env["REDIS_URL"] == "redis://127.0.0.1:6379/0"  # Debian's, on the loopback


# ---- Cloud Run ------------------------------------------------------------------


def filled(path, tmp_path):
    target = tmp_path / path.name
    target.write_text(
        path.read_text()
        .replace("image: IMAGE", "image: europe-docker.pkg.dev/p/r/i:1")
        .replace("CLOUD_SQL_INSTANCE", "p-123456:europe-west1:my-service")
        .replace(PROJECT_PLACEHOLDER, EXAMPLE_PROJECT)
    )
    return target


def test_cloud_run_worker_pool_parses_and_stops_within_10_seconds(project, tmp_path):
    folder = project / "deploy/cloudrun"
    gcloud_parses(
        filled(folder / "worker-pool.yaml", tmp_path),
        "beta",
        "run",
        "worker-pools",
        "replace",
        "--dry-run",
        tmp_path=tmp_path,
    )
    pool = yaml.safe_load((folder / "worker-pool.yaml").read_text())
    assert pool["kind"] == "WorkerPool" and pool["metadata"]["name"] == f"{project.name}-worker"
    (container,) = pool["spec"]["template"]["spec"]["containers"]
    assert " ".join([*container["command"], *container["args"]]) == worker_command(project)
    for key in ("ports", "startupProbe", "livenessProbe", "readinessProbe"):
        assert key not in container, key
    env = {item["name"]: item["value"] for item in container["env"] if "value" in item}
    fits(project, env, grace=10)  # Cloud Run's SIGKILL, 10 s after SIGTERM
    service = yaml.safe_load((folder / "service.yaml").read_text())
    job = yaml.safe_load((folder / "release-job.yaml").read_text())
    (web,) = service["spec"]["template"]["spec"]["containers"]
    (release,) = job["spec"]["template"]["spec"]["template"]["spec"]["containers"]
    secret = {"name": f"{project.name}-redis-url", "key": "latest"}
    for name, each in (("service", web), ("release job", release), ("worker pool", container)):
        refs = {i["name"]: i["valueFrom"]["secretKeyRef"] for i in each["env"] if "valueFrom" in i}
        assert refs["REDIS_URL"] == secret, name
    # Memorystore through Direct VPC egress, for the processes that connect.
    network = ("run.googleapis.com/network-interfaces", "run.googleapis.com/vpc-access-egress")
    for name, template in (("service", service), ("worker pool", pool)):
        annotations = template["spec"]["template"]["metadata"]["annotations"]
        assert [annotations[key] for key in network] == [
            '[{"network":"default","subnetwork":"default"}]',
            "private-ranges-only",
        ], name


def test_cloud_run_guide_deploys_the_worker_pool_and_its_redis(project, tmp_path):
    guide = (project / "docs/deploy-cloud-run.md").read_text()
    lines = [line for block in shell_blocks(guide) for line in command_lines(block)]
    ran = run_gcloud_lines(lines, project, tmp_path)
    for start in (
        "gcloud beta run worker-pools replace ",
        "gcloud beta run worker-pools deploy ",
        "gcloud redis instances create ",
        "gcloud config set run/region ",
    ):
        assert any(line.startswith(start) or f"| {start}" in line for line in ran), start
    assert "CLOUD_SQL_INSTANCE" not in (tmp_path / "worker-pool.yaml").read_text()
    # The plain path's worker pool is the file's.
    (deploy,) = [line for line in lines if line.startswith("gcloud beta run worker-pools deploy ")]
    pool = yaml.safe_load((project / "deploy/cloudrun/worker-pool.yaml").read_text())
    (container,) = pool["spec"]["template"]["spec"]["containers"]
    given = flags(deploy)
    assert shlex.split(deploy)[5] == pool["metadata"]["name"]
    assert [given["command"], *given["args"].split(",")] == [
        *container["command"],
        *container["args"],
    ]
    assert (
        given["scaling"]
        == pool["metadata"]["annotations"]["run.googleapis.com/manualInstanceCount"]
    )
    assert given["cpu"] == container["resources"]["limits"]["cpu"]
    assert given["memory"] == container["resources"]["limits"]["memory"]
    env = dict(pair.split("=", 1) for pair in given["set-env-vars"].split(","))
    assert env == {item["name"]: item["value"] for item in container["env"] if "value" in item}
    assert given["set-secrets"] == ",".join(
        f"{item['name']}={item['valueFrom']['secretKeyRef']['name']}:latest"
        for item in sorted(container["env"], key=lambda item: item["name"])
        if "valueFrom" in item
    )
    assert (given["network"], given["subnet"], given["vpc-egress"]) == (
        "default",
        "default",
        "private-ranges-only",
    )


def test_cloud_run_workflow_deploys_the_worker_pool(project, tmp_path):
    path = project / ".github/workflows/deploy-cloudrun.yml"
    workflows = workflows_of(project)
    check([tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", *workflows])
    check([tool("actionlint"), "-no-color", *workflows])
    workflow = yaml.safe_load(path.read_text())
    (job,) = workflow["jobs"].values()
    setup = next(s for s in job["steps"] if "setup-gcloud" in s.get("uses", ""))
    assert setup["with"]["install_components"] == "beta"
    lines = [
        line.strip()
        for step in job["steps"]
        for line in step.get("run", "").splitlines()
        if line.strip()
    ]
    ran = run_gcloud_lines(lines, project, tmp_path)
    assert len(ran) == sum(line.startswith("gcloud ") for line in lines)
    assert 'gcloud beta run worker-pools replace "$RUNNER_TEMP/worker-pool.yaml"' in ran
    assert "image: IMAGE" not in (tmp_path / "worker-pool.yaml").read_text()


# ---- The table of stop bounds ---------------------------------------------------


def test_the_stop_table_states_what_each_file_sets(project):
    text = (project / "docs/background-jobs.md").read_text()
    table = text.split("## Stopping on each platform", 1)[1].split("\n\n")[2]
    rows = {
        cells[0]: cells
        for cells in (
            [cell.strip() for cell in line.strip("|").split("|")] for line in table.splitlines()[2:]
        )
    }
    bounds = {platform: int(cells[2].split()[0]) for platform, cells in rows.items()}
    graces = {platform: int(cells[1].split()[0]) for platform, cells in rows.items()}
    app = json.loads((project / "app.json").read_text())
    fly = tomllib.loads((project / "fly.toml").read_text())
    pool = yaml.safe_load((project / "deploy/cloudrun/worker-pool.yaml").read_text())
    (pool_container,) = pool["spec"]["template"]["spec"]["containers"]
    render = yaml.safe_load((project / "render.yaml").read_text())["services"][1]
    worker_unit = dict(unit(project / SYSTEMD / f"{project.name}-worker.service")["Service"])
    kube = [o for o in base_objects(project) if o["kind"] == "Deployment"][1]
    kube_pod = kube["spec"]["template"]["spec"]
    files = {
        "Cloud Run worker pool": (
            {i["name"]: i["value"] for i in pool_container["env"] if "value" in i},
            10,
        ),
        "Heroku": ({"WORKER_STOP_TIMEOUT": app["env"]["WORKER_STOP_TIMEOUT"]["value"]}, 30),
        "Render": (
            {v["key"]: v["value"] for v in render["envVars"] if "value" in v},
            render["maxShutdownDelaySeconds"],
        ),
        "Fly.io": (fly["env"], fly["kill_timeout"]),
        "Kubernetes": (
            {i["name"]: i["value"] for i in kube_pod["containers"][0]["env"]},
            kube_pod["terminationGracePeriodSeconds"],
        ),
        "systemd": (
            unit_environment(unit(project / SYSTEMD / f"{project.name}-worker.service")["Service"]),
            int(worker_unit["TimeoutStopSec"]),
        ),
        "Compose": ({}, 10),
    }
    assert set(files) <= set(rows) and len(rows) == len(files) + 1  # and Railway
    for platform, (env, grace) in files.items():
        assert bounds[platform] == fits(project, env, grace), platform
        assert graces[platform] == grace, platform
    compose = yaml.safe_load((project / "compose.yaml").read_text())["services"]["worker"]
    assert "stop_grace_period" not in compose and "WORKER_STOP_TIMEOUT" not in str(compose)

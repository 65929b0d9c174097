"""The deploy targets and CI files: each checked offline against what its platform reads.

Cloud Run's service.yaml against both the Cloud Run and the Knative schema, Heroku's
app.json against a schema and heroku.yml against its documented format, the Procfile
parsed, Railway's railway.ts evaluated and type-checked with the pinned SDK, and every
workflow through check-jsonschema and actionlint. Every environment a platform file
sets passes the service's own settings validation.
"""

import importlib
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
import types
from pathlib import Path

import jsonschema
import pytest
import yaml

from conftest import DEFAULTS, NO_TARGETS, TEMPLATE, uses_postgres

# Copies kept in the repository (tests/schemas/SOURCES.md), so a clone runs every check.
SCHEMAS = TEMPLATE / "tests" / "schemas"
BIN = Path(sys.executable).parent
# npm packages for the Railway test, kept between runs; keyed by the pinned versions.
NPM_CACHE = Path(
    os.environ.get("WSGI_TEMPLATE_NPM_CACHE", Path.home() / ".cache/wsgi-template-npm")
)
SHA_PIN = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")

WORKER_CLASSES = DEFAULTS["worker_class"]
BAKES = {
    **{f"worker-{w}": {"worker_class": w} for w in WORKER_CLASSES},
    "custom-names": {"project_name": "Billing API", "package_name": "billing"},
    "no-cloud-run": {"deploy_cloud_run": "no"},
    "no-railway": {"deploy_railway": "no"},
    "no-heroku": {"deploy_heroku": "no"},
    "no-github-actions": {"github_actions": "no"},
    "no-targets": NO_TARGETS,
    "postgresql": {"database": "postgresql"},
}


@pytest.fixture(params=list(BAKES), scope="module")
def project(request, bake):
    return bake(**BAKES[request.param])


# Each worker class, and the longest names the answers allow.
PLATFORM_BAKES = {
    **{w: {"worker_class": w} for w in WORKER_CLASSES},
    "long-names": {
        "project_name": "Cafe Unicode Service, Ünïcode Edition",
        "project_slug": "a" + "-b" * 24,  # 49 characters, Cloud Run's limit
        "package_name": "a_1",
    },
    "postgresql": {"database": "postgresql"},
    "scheduled": {"scheduled_jobs": "yes"},
    "scheduled-postgresql": {"scheduled_jobs": "yes", "database": "postgresql"},
    # Web's Redis without a worker: service.yaml and its metrics variant alike.
    "socketio": {"websockets": "socketio"},
}


@pytest.fixture(params=list(PLATFORM_BAKES), scope="module")
def platform_project(request, bake):
    return bake(**PLATFORM_BAKES[request.param])


def schema(name):
    path = SCHEMAS / name
    if not path.is_file():
        reason = f"{path} is missing: the schemas live in tests/schemas/"
        if os.environ.get("REQUIRE_SCHEMAS") == "1":
            pytest.fail(reason + " (REQUIRE_SCHEMAS=1)")
        pytest.skip(reason)
    return json.loads(path.read_text())


def validate(instance, schema_document, default=jsonschema.Draft202012Validator):
    cls = jsonschema.validators.validator_for(schema_document, default=default)
    errors = [
        f"{'/'.join(map(str, error.absolute_path))}: {error.message[:200]}"
        for error in cls(schema_document).iter_errors(instance)
    ]
    assert not errors, "\n".join(errors)


def load_settings_module(project):
    """The baked project's settings.py (standard library only), to validate env values.

    Loaded as a module of a bare package made of its serving/ folder (serving's own
    __init__ imports Flask): settings.py imports its sibling database_settings.py.
    """
    (path,) = project.glob("src/*/serving/settings.py")
    package = types.ModuleType(f"serving_{id(project)}")
    package.__path__ = [str(path.parent)]
    sys.modules[package.__name__] = package  # dataclasses look their module up there
    return importlib.import_module(f"{package.__name__}.settings")


def package(project):
    (init,) = project.glob("src/*/__init__.py")
    return init.parent.name


def start_command(project):
    """The image's CMD: the one start command everything else must match."""
    (line,) = [
        line
        for line in (project / "Dockerfile").read_text().splitlines()
        if line.startswith("CMD ")
    ]
    return " ".join(json.loads(line[len("CMD ") :]))


def image_metrics_port(project):
    """The image's METRICS_PORT (its ENV): the one number every platform's scrape names."""
    (port,) = re.findall(r"^\s+METRICS_PORT=(\d+)$", (project / "Dockerfile").read_text(), re.M)
    return int(port)


# ---- Google Cloud Run ----------------------------------------------------------


def cloud_run(project):
    return yaml.safe_load((project / "deploy/cloudrun/service.yaml").read_text())


def literal_env(container):
    return {item["name"]: item["value"] for item in container["env"] if "value" in item}


# The project ID's placeholder in service.yaml, which the guide's and the workflow's sed
# fill with $PROJECT as they fill IMAGE; and a project ID to fill it with here.
PROJECT_PLACEHOLDER = "PROJECT_ID"
FILL_PROJECT = f"s|value: {PROJECT_PLACEHOLDER}|value: $PROJECT|"
EXAMPLE_PROJECT = "p-123456"


def secret_env(container):
    """Variables from Secret Manager: {name: {"name": secret, "key": version}}."""
    return {
        item["name"]: item["valueFrom"]["secretKeyRef"]
        for item in container["env"]
        if "valueFrom" in item
    }


def test_cloud_run_service_passes_both_schemas(platform_project):
    service = cloud_run(platform_project)
    validate(service, schema("cloud-run-v1.json"))
    validate(service, schema("serving.knative.dev/service_v1.json"))


def test_cloud_run_service_fits_the_platform(platform_project):
    service = cloud_run(platform_project)
    assert (service["apiVersion"], service["kind"]) == ("serving.knative.dev/v1", "Service")
    assert service["metadata"]["name"] == platform_project.name
    template = service["spec"]["template"]
    annotations = template["metadata"]["annotations"]
    assert all(isinstance(value, str) for value in annotations.values())
    assert int(annotations["autoscaling.knative.dev/maxScale"]) >= 1
    assert annotations["run.googleapis.com/startup-cpu-boost"] == "true"
    (container,) = template["spec"]["containers"]
    assert container["image"] == "IMAGE"  # the placeholder the deploy path fills
    port = container["ports"][0]["containerPort"]
    for probe in ("startupProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/health", "port": port}
    startup = container["startupProbe"]
    window = (
        startup.get("initialDelaySeconds", 0)
        + startup["periodSeconds"] * startup["failureThreshold"]
    )
    assert window <= 240, "Cloud Run allows a startup probe 240 s at most"
    assert {"cpu", "memory"} <= set(container["resources"]["limits"])

    env = literal_env(container)
    assert env["GUNICORN_TIMEOUT"] == "0"  # CPU is throttled between requests
    assert int(env["GUNICORN_GRACEFUL_TIMEOUT"]) < 10  # Cloud Run: SIGKILL 10 s after SIGTERM
    assert env["FORWARDED_ALLOW_IPS"] == "*"
    # Cloud Run sets no project variable: the file names it, filled in at deploy, or
    # no log line gets Cloud Logging's trace field.
    assert env["GOOGLE_CLOUD_PROJECT"] == PROJECT_PLACEHOLDER
    env["GOOGLE_CLOUD_PROJECT"] = EXAMPLE_PROJECT
    settings = load_settings_module(platform_project).load_settings({**env, "PORT": str(port)})
    assert settings.google_cloud_project == EXAMPLE_PROJECT
    assert settings.trusted_hosts == (".run.app",), "Cloud Run's URLs end in run.app"
    concurrency = template["spec"]["containerConcurrency"]
    capacity = settings.web_concurrency * (
        settings.worker_connections if settings.worker_class == "gevent" else settings.threads
    )
    if settings.worker_class == "gevent":
        assert concurrency <= capacity
    else:
        assert concurrency == capacity, "one request per worker thread, none queued"


# Google's Managed Service for Prometheus collector for Cloud Run, by version.
GMP_SIDECAR = (
    "us-docker.pkg.dev/cloud-ops-agents-artifacts/cloud-run-gmp-sidecar/cloud-run-gmp-sidecar:"
)
DEPENDENCIES = "run.googleapis.com/container-dependencies"


def test_cloud_run_metrics_variant_is_the_service_plus_googles_prometheus_sidecar(
    platform_project,
):
    """service-with-metrics.yaml passes both schemas, and is service.yaml line for line
    but for the collector sidecar, its config volume, the dependency that starts it
    after the web container, and that container's name."""
    path = platform_project / "deploy/cloudrun/service-with-metrics.yaml"
    variant = yaml.safe_load(path.read_text())
    validate(variant, schema("cloud-run-v1.json"))
    validate(variant, schema("serving.knative.dev/service_v1.json"))
    template = variant["spec"]["template"]
    web, collector = template["spec"]["containers"]
    # One ingress container (the only one with a port), started first.
    assert web["name"] == "web" and "ports" in web and "ports" not in collector
    assert json.loads(template["metadata"]["annotations"][DEPENDENCIES]) == {
        collector["name"]: [web["name"]]
    }
    assert collector["image"].startswith(GMP_SIDECAR)
    assert re.fullmatch(r"\d+\.\d+\.\d+", collector["image"].removeprefix(GMP_SIDECAR))
    # A whole CPU (a fraction would tie the instance to one request at a time).
    assert collector["resources"]["limits"]["cpu"] == "1"
    (mount,) = collector["volumeMounts"]
    assert mount["mountPath"].rstrip("/") == "/etc/rungmp"  # where the sidecar reads
    (volume,) = template["spec"]["volumes"]
    assert volume == {
        "name": mount["name"],
        "secret": {
            "secretName": f"{platform_project.name}-run-monitoring",
            "items": [{"key": "latest", "path": "config.yaml"}],
        },
    }
    # Without the sidecar, the very service of service.yaml.
    del template["metadata"]["annotations"][DEPENDENCIES]
    del template["spec"]["volumes"]
    del web["name"]
    template["spec"]["containers"] = [web]
    assert variant == cloud_run(platform_project)


def test_cloud_run_sidecar_scrapes_the_images_metrics_port(platform_project):
    config = yaml.safe_load((platform_project / "deploy/cloudrun/run-monitoring.yaml").read_text())
    assert (config["apiVersion"], config["kind"]) == (
        "monitoring.googleapis.com/v1beta",
        "RunMonitoring",
    )
    (endpoint,) = config["spec"]["endpoints"]
    # A string: the sidecar reads a port as a name or a number, strictly.
    assert endpoint["port"] == str(image_metrics_port(platform_project))
    assert endpoint["path"] == "/metrics"
    (web,) = cloud_run(platform_project)["spec"]["template"]["spec"]["containers"]
    assert endpoint["port"] != str(web["ports"][0]["containerPort"])
    guide = (platform_project / "docs/deploy-cloud-run.md").read_text()
    assert (
        f"gcloud secrets create {platform_project.name}-run-monitoring "
        "--data-file=deploy/cloudrun/run-monitoring.yaml"
    ) in guide


def test_cloud_run_release_job_passes_the_schema_and_runs_the_release_step(platform_project):
    job = yaml.safe_load((platform_project / "deploy/cloudrun/release-job.yaml").read_text())
    validate(job, schema("cloud-run-v1.json"))
    assert (job["apiVersion"], job["kind"]) == ("run.googleapis.com/v1", "Job")
    assert job["metadata"]["name"] == f"{platform_project.name}-release"
    execution = job["spec"]["template"]["spec"]
    assert execution["taskCount"] == 1  # a release step runs once
    task = execution["template"]["spec"]
    assert task["maxRetries"] == 0
    (container,) = task["containers"]
    assert container["image"] == "IMAGE"
    assert " ".join([*container["command"], *container["args"]]) == (
        f"{start_command(platform_project)} release"
    )


def test_cloud_run_files_connect_cloud_sql_only_with_a_database(platform_project):
    """The service and the release job reach the same instance's socket, with the URL
    from Secret Manager; without a database, neither names one."""
    service = cloud_run(platform_project)
    job = yaml.safe_load((platform_project / "deploy/cloudrun/release-job.yaml").read_text())
    execution = job["spec"]["template"]
    (service_container,) = service["spec"]["template"]["spec"]["containers"]
    (job_container,) = execution["spec"]["template"]["spec"]["containers"]
    pairs = {
        "service": (service["spec"]["template"], service_container),
        "release job": (execution, job_container),
    }
    for what, (template, container) in pairs.items():
        annotations = template.get("metadata", {}).get("annotations", {})
        # Never a literal: the URL holds the password.
        assert "DATABASE_URL" not in literal_env(container), what
        if uses_postgres(platform_project):
            # The placeholder the guide and the workflow fill, as they fill IMAGE.
            assert annotations["run.googleapis.com/cloudsql-instances"] == "CLOUD_SQL_INSTANCE"
            assert secret_env(container)["DATABASE_URL"] == {
                "name": f"{platform_project.name}-database-url",
                "key": "latest",
            }, what
        else:
            assert "run.googleapis.com/cloudsql-instances" not in annotations, what
            assert "DATABASE_URL" not in secret_env(container), what
    text = (platform_project / "docs/deploy-cloud-run.md").read_text()
    instance = f"$PROJECT:$REGION:{platform_project.name}"
    if uses_postgres(platform_project):
        # The instance the guide creates is the one the files are given, and the secret
        # holds the socket form of the URL for it.
        assert f"gcloud sql instances create {platform_project.name} " in text
        assert f"s|CLOUD_SQL_INSTANCE|{instance}|" in text
        assert f'?host=/cloudsql/{instance}"' in text
        assert f"gcloud secrets create {platform_project.name}-database-url " in text
        assert "roles/cloudsql.client" in text
    else:
        assert "cloudsql" not in text.lower() and "DATABASE_URL" not in text


def gcloud_parses(path: Path, *command: str, tmp_path: Path) -> None:
    """gcloud reads FILE into Cloud Run's API types before it asks for an account: a
    wrong field fails offline with "Failed to parse", a right file only for want of one.
    (`worker-pools replace` has no --region: it reads run/region, given here by variable.)"""
    gcloud = shutil.which("gcloud")
    if gcloud is None:
        reason = "gcloud is not installed: the Cloud Run files cannot be parsed by it"
        if os.environ.get("REQUIRE_GCLOUD") == "1":
            pytest.fail(reason + " (REQUIRE_GCLOUD=1)")
        pytest.skip(reason)
    region = [] if "worker-pools" in command else ["--region", "europe-west1"]
    result = subprocess.run(
        [gcloud, *command, str(path), *region, "--project", "p-123456"],
        capture_output=True,
        text=True,
        timeout=120,
        # A config folder of its own: no account, no prompts, nothing of the user's.
        env={
            **os.environ,
            "CLOUDSDK_CONFIG": str(tmp_path / "gcloud"),
            "CLOUDSDK_CORE_DISABLE_PROMPTS": "1",
            "CLOUDSDK_RUN_REGION": "europe-west1",
        },
        stdin=subprocess.DEVNULL,
    )
    output = result.stdout + result.stderr
    assert "Failed to parse" not in output, output
    assert result.returncode != 0 and "account" in output, output


@pytest.mark.parametrize("database", DEFAULTS["database"])
@pytest.mark.parametrize(
    ("name", "command"),
    [
        ("service.yaml", ("run", "services", "replace", "--dry-run")),
        ("service-with-metrics.yaml", ("run", "services", "replace", "--dry-run")),
        ("release-job.yaml", ("run", "jobs", "replace")),
    ],
)
def test_gcloud_parses_the_cloud_run_files(bake, tmp_path, name, command, database):
    path = bake(database=database) / "deploy/cloudrun" / name
    filled = tmp_path / name
    filled.write_text(
        path.read_text()
        .replace("image: IMAGE", "image: europe-docker.pkg.dev/p/r/i:1")
        .replace("CLOUD_SQL_INSTANCE", "p-123456:europe-west1:my-service")
        .replace(f"value: {PROJECT_PLACEHOLDER}", f"value: {EXAMPLE_PROJECT}")
    )
    gcloud_parses(filled, *command, tmp_path=tmp_path)


def test_gcloud_check_catches_a_misplaced_field(bake, tmp_path):
    text = (bake() / "deploy/cloudrun/release-job.yaml").read_text()
    broken = tmp_path / "job.yaml"
    broken.write_text(text.replace("maxRetries:", "maxRetriez:"))
    with pytest.raises(AssertionError, match="Failed to parse"):
        gcloud_parses(broken, "run", "jobs", "replace", tmp_path=tmp_path)


# ---- Heroku ---------------------------------------------------------------------


def test_heroku_app_json_passes_the_schema(platform_project):
    app = json.loads((platform_project / "app.json").read_text())
    validate(app, schema("heroku-app-json.schemastore-pr1092.json"), jsonschema.Draft7Validator)
    assert app["stack"] == "container"
    env = {name: spec["value"] for name, spec in app["env"].items() if "value" in spec}
    # A secret is generated per app, never written in the file.
    assert app["env"]["SECRET_KEY"] == {
        "description": app["env"]["SECRET_KEY"]["description"],
        "generator": "secret",
    }
    # Heroku sets no WEB_CONCURRENCY for container apps.
    assert int(env["WEB_CONCURRENCY"]) >= 1
    assert int(env["GUNICORN_GRACEFUL_TIMEOUT"]) < 30  # SIGKILL 30 s after SIGTERM
    load_settings_module(platform_project).load_settings(env)
    # The add-on sets DATABASE_URL (as DATABASE); never a value of the file.
    assert "DATABASE_URL" not in app["env"]
    addons = []
    if uses_postgres(platform_project):
        addons.append({"plan": "heroku-postgresql:essential-0", "as": "DATABASE"})
        guide = (platform_project / "docs/deploy-heroku.md").read_text()
        assert "heroku addons:create heroku-postgresql:essential-0 --as DATABASE" in guide
    if (
        platform_project / "src" / package(platform_project) / "serving/redis_settings.py"
    ).exists():
        # Redis for Socket.IO's message queue (or RQ's jobs: test_worker_deploy.py).
        addons.append({"plan": "heroku-redis:mini", "as": "REDIS"})
    if (platform_project / "src" / package(platform_project) / "scheduled.py").exists():
        # The Scheduler add-on; its job (the command) is set in its dashboard, as the
        # guide says: neither app.json nor heroku.yml can declare one.
        addons.append({"plan": "scheduler:standard"})
        guide = (platform_project / "docs/scheduled-jobs.md").read_text()
        assert "heroku addons:create scheduler:standard" in guide
        assert f"command `{start_command(platform_project)} manage tick`" in guide
    assert app.get("addons", []) == addons


def test_heroku_yml_follows_the_documented_format(platform_project):
    manifest = yaml.safe_load((platform_project / "heroku.yml").read_text())
    assert set(manifest) <= {"setup", "build", "release", "run"}
    docker = manifest["build"]["docker"]
    assert docker["web"] == "Dockerfile" and (platform_project / docker["web"]).is_file()
    # Without `run`, Heroku runs the image's CMD: the one start command.
    assert "run" not in manifest
    # The release phase runs the release step in the web image.
    assert manifest["release"] == {
        "image": "web",
        "command": [f"{start_command(platform_project)} release"],
    }


def test_procfile_runs_the_start_command(platform_project):
    lines = (platform_project / "Procfile").read_text().splitlines()
    processes = {}
    for line in lines:
        match = re.fullmatch(r"([A-Za-z0-9_-]+):\s*(\S.*)", line)
        assert match, f"not `type: command`: {line!r}"
        assert match[1] not in processes, f"{match[1]} twice"
        processes[match[1]] = match[2]
    web = processes["web"]
    # Only src/ needs adding for buildpacks; the command is the image's CMD.
    assert web == f"PYTHONPATH=src {start_command(platform_project)}"
    assert processes["release"] == f"{web} release"
    # background_jobs=rq: the worker, the same command family.
    assert processes.get("worker", f"{web} worker") == f"{web} worker"
    assert not re.search(r"(^|\s)(-b|--bind)\b", web), "the port comes from $PORT"
    # The service binds $PORT itself (the baked project's test_platforms runs the line).
    settings = load_settings_module(platform_project).load_settings({"PORT": "5123"})
    assert settings.bind[0].endswith(":5123")


def test_heroku_guide_sets_the_app_json_variables(bake):
    project = bake()
    app = json.loads((project / "app.json").read_text())
    guide = (project / "docs/deploy-heroku.md").read_text()
    config_sets = re.findall(r"^heroku config:set (.*)$", guide, re.MULTILINE)
    # The others set a random secret each (SECRET_KEY, METRICS_TOKEN), never a literal.
    (config_set,) = [line for line in config_sets if "secrets.token_urlsafe" not in line]
    assert re.search(r"^heroku create [a-z][a-z0-9-]{0,28}[a-z0-9] ", guide, re.MULTILINE)
    assert dict(pair.replace("'", "").split("=", 1) for pair in config_set.split()) == {
        name: spec["value"] for name, spec in app["env"].items() if "value" in spec
    }
    # The secret is set on its own line, from a random value, never a literal.
    (secret,) = [line for line in config_sets if "SECRET_KEY" in line]
    assert "secrets.token_urlsafe" in secret


# ---- Railway --------------------------------------------------------------------

EVALUATE = """\
import { pathToFileURL } from "node:url";
import { createRailwayContext, project } from "railway/iac";
const config = await import(pathToFileURL(process.argv[2]).href);
const result = await config.default(createRailwayContext({ environment: "production" }), project);
process.stdout.write(JSON.stringify(result));
"""


def node_tools():
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    if missing:
        reason = f"{' and '.join(missing)} not found: the Railway file cannot be evaluated"
        if os.environ.get("REQUIRE_NODE") == "1":
            pytest.fail(reason + " (REQUIRE_NODE=1)")
        pytest.skip(reason)


def railway_sdk(pins):
    """node_modules with the pinned packages, installed once per set of versions."""
    key = "-".join(f"{name}-{version}" for name, version in sorted(pins.items()))
    target = NPM_CACHE / key
    if (target / "node_modules" / ".bin" / "tsx").exists():
        return target / "node_modules"
    NPM_CACHE.mkdir(parents=True, exist_ok=True)
    staging = NPM_CACHE / f".{key}.{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    (staging / "package.json").write_text(
        json.dumps({"private": True, "type": "module", "devDependencies": pins})
    )
    # npm's own download cache (and its logs) in a folder of this install, removed with
    # it: the packages are kept above, so ~/.npm would only keep a second copy.
    npm_cache = staging.parent / f".npm-cache.{os.getpid()}"
    try:
        result = subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error"],
            cwd=staging,
            env={
                **os.environ,
                "npm_config_cache": str(npm_cache),
                "npm_config_update_notifier": "false",
            },
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        shutil.rmtree(npm_cache, ignore_errors=True)
    assert result.returncode == 0, result.stdout + result.stderr
    try:
        staging.rename(target)  # atomic: a half-done install is never reused
    except OSError:  # another run got there first
        shutil.rmtree(staging, ignore_errors=True)
    return target / "node_modules"


@pytest.fixture(scope="module", params=DEFAULTS["database"])
def railway(request, bake, tmp_path_factory):
    """The .railway folder of a bake per database answer, evaluated and type-checked
    with the pinned SDK; the postgresql bake has the scheduled job's service too."""
    node_tools()
    extra = {"scheduled_jobs": "yes"} if request.param == "postgresql" else {}
    project = bake(database=request.param, **extra)
    folder = project / ".railway"
    pins = json.loads((folder / "package.json").read_text())["devDependencies"]
    assert all(re.fullmatch(r"\d+\.\d+\.\d+", v) for v in pins.values()), "pin exact versions"
    work = tmp_path_factory.mktemp("railway")
    for name in ("railway.ts", "tsconfig.json", "package.json"):
        shutil.copy(folder / name, work / name)
    (work / "node_modules").symlink_to(railway_sdk(pins), target_is_directory=True)
    (work / "evaluate.mts").write_text(EVALUATE)
    bin_dir = work / "node_modules" / ".bin"
    # tsx keeps compiled files and its IPC folder in the temporary folder: no cache, and
    # that folder is this test's own.
    environment = {**os.environ, "TSX_DISABLE_CACHE": "1", "TMPDIR": str(work)}
    run = {"cwd": work, "env": environment, "capture_output": True, "text": True, "timeout": 120}
    typecheck = subprocess.run([bin_dir / "tsc", "--noEmit", "-p", "tsconfig.json"], **run)
    evaluated = subprocess.run([bin_dir / "tsx", "evaluate.mts", str(work / "railway.ts")], **run)
    assert evaluated.returncode == 0, evaluated.stderr
    return project, json.loads(evaluated.stdout), typecheck


def railway_service(definition, name):
    (service,) = [r for r in definition["resources"] if r.get("name") == name]
    assert service["type"] == "service"
    return service


def test_railway_file_type_checks(railway):
    _, _, typecheck = railway
    assert typecheck.returncode == 0, typecheck.stdout + typecheck.stderr


def test_railway_service_builds_the_dockerfile_and_checks_health(railway):
    project, definition, _ = railway
    assert definition["name"] == project.name
    web = railway_service(definition, project.name)
    assert web["build"] == {"builder": "DOCKERFILE", "dockerfilePath": "Dockerfile"}
    assert (project / web["build"]["dockerfilePath"]).is_file()
    deploy = web["deploy"]
    assert deploy["healthcheckPath"] == "/health"
    assert deploy["restartPolicyType"] == "ON_FAILURE"
    assert deploy["restartPolicyMaxRetries"] > 0
    # The start command is the image's CMD, nothing else.
    assert "startCommand" not in deploy
    # The release step runs before the new deployment takes traffic.
    assert deploy["preDeployCommand"] == [f"{start_command(project)} release"]
    # Secrets are kept in Railway's variables, never in the file.
    assert web["variables"]["SECRET_KEY"] == {"type": "preserve"}
    literal = {n: v for n, v in web["variables"].items() if n not in ("SECRET_KEY", "DATABASE_URL")}
    variables = {name: v["value"] for name, v in literal.items()}
    assert all(v["type"] == "literal" for v in literal.values())
    assert variables["FORWARDED_ALLOW_IPS"] == "*"
    settings = load_settings_module(project).load_settings(variables)
    # Railway's generated domains and its private network's names.
    assert settings.trusted_hosts == (".up.railway.app", ".railway.internal")
    # The old deployment gets SIGKILL drainingSeconds after SIGTERM.
    assert settings.graceful_timeout < deploy["drainingSeconds"]


def test_railway_postgres_service_gives_the_web_service_its_url(railway):
    project, definition, _ = railway
    databases = [r for r in definition["resources"] if r["type"] == "database"]
    web = railway_service(definition, project.name)
    if not uses_postgres(project):
        assert databases == [] and "DATABASE_URL" not in web["variables"]
        return
    (db,) = databases
    assert (db["engine"], db["name"]) == ("postgres", "Postgres")
    # Its data on a volume, which Railway's template mounts where PostgreSQL keeps it.
    assert db["defaultMountPath"] == "/var/lib/postgresql/data"
    # A reference Railway resolves at deploy, ${{Postgres.DATABASE_URL}}: the private
    # network's URL, no password in the file.
    assert web["variables"]["DATABASE_URL"] == {
        "type": "reference",
        "resource": db["address"],
        "output": "DATABASE_URL",
    }
    guide = (project / "docs/deploy-railway.md").read_text()
    assert "${{Postgres.DATABASE_URL}}" in guide


def test_railway_cron_service_runs_the_scheduled_command(railway):
    project, definition, _ = railway
    services = [r["name"] for r in definition["resources"] if r["type"] == "service"]
    scheduled = (project / "src" / package(project) / "scheduled.py").exists()
    assert services == [project.name, *([f"{project.name}-tick"] if scheduled else [])]
    if not scheduled:
        assert "cronSchedule" not in (project / ".railway/railway.ts").read_text()
        return
    web, tick = (railway_service(definition, name) for name in services)
    assert tick["build"] == web["build"], "the same image"
    deploy = tick["deploy"]
    assert deploy["startCommand"] == f"{start_command(project)} manage tick"
    # Railway's shortest interval is 5 minutes, in UTC.
    (minutes,) = re.fullmatch(r"\*/(\d+) \* \* \* \*", deploy["cronSchedule"]).groups()
    assert int(minutes) >= 5
    # A failed run waits for the next one: a restart would overlap it.
    assert deploy["restartPolicyType"] == "NEVER"
    # No health check or release step: it serves nothing and exits.
    assert not {"healthcheckPath", "preDeployCommand"} & set(deploy)
    # The web service's secret and database, by reference, never a second copy.
    assert tick["variables"]["SECRET_KEY"] == {
        "type": "reference",
        "resource": web["address"],
        "output": "SECRET_KEY",
    }
    if uses_postgres(project):
        assert tick["variables"]["DATABASE_URL"] == web["variables"]["DATABASE_URL"]


def test_no_deprecated_railway_config_as_code(project):
    assert not (project / "railway.json").exists()
    assert not (project / "railway.toml").exists()


# ---- GitHub Actions -------------------------------------------------------------


def tool(name):
    path = BIN / name
    assert path.exists(), f"{name} is not installed next to {sys.executable}"
    return str(path)


def check(command):
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def workflows_of(root):
    return sorted((root / ".github" / "workflows").glob("*.yml"))


def test_workflows_and_dependabot_pass_schemas_and_actionlint(project):
    workflows = workflows_of(project)
    if not (project / ".github").exists():
        pytest.skip("no GitHub files in this bake")
    check([tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", *workflows])
    check([tool("actionlint"), "-no-color", *workflows])
    check(
        [
            tool("check-jsonschema"),
            "--builtin-schema",
            "vendor.dependabot",
            str(project / ".github" / "dependabot.yml"),
        ]
    )
    # Renovate's own schema, as check-jsonschema vendors it (no copy kept here).
    check(
        [
            tool("check-jsonschema"),
            "--builtin-schema",
            "vendor.renovate",
            str(project / ".github" / "renovate.json"),
        ]
    )


def test_template_workflow_passes_schema_and_actionlint():
    workflows = workflows_of(TEMPLATE)
    assert workflows
    check([tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", *workflows])
    check([tool("actionlint"), "-no-color", *workflows])


def test_workflows_are_pinned_bounded_and_least_privilege(bake):
    for path in [*workflows_of(bake()), *workflows_of(TEMPLATE)]:
        text = path.read_text()
        workflow = yaml.safe_load(text)
        assert workflow["permissions"] == {"contents": "read"}, path.name
        assert "group" in workflow["concurrency"], path.name
        for name, job in workflow["jobs"].items():
            assert job["timeout-minutes"] <= 60, f"{path.name}: {name}"
            for step in job["steps"]:
                if "uses" in step:
                    assert SHA_PIN.match(step["uses"]), f"{path.name}: {step['uses']}"
        for line in text.splitlines():
            if "uses:" in line:
                assert re.search(r"@[0-9a-f]{40} # v\d+(\.\d+)*$", line), f"{path.name}: {line}"
        assert "${{" in text  # GitHub's expressions survived rendering


@pytest.mark.parametrize("database", DEFAULTS["database"])
def test_ci_gives_the_tests_a_postgresql_server_only_with_a_database(bake, database):
    project = bake(database=database)
    workflow = yaml.safe_load((project / ".github/workflows/ci.yml").read_text())
    test = workflow["jobs"]["test"]
    (make_test,) = [step for step in test["steps"] if step.get("run") == "make test"]
    if database == "none":
        assert "services" not in test
        assert set(make_test["env"]) == {"REQUIRE_DOCKER", "REQUIRE_PROMETHEUS"}
        return
    postgres = test["services"]["postgres"]
    # The image and major version compose.yaml runs locally.
    compose = yaml.safe_load((project / "compose.yaml").read_text())
    assert compose["services"]["postgres"]["image"] == f"${{POSTGRES_IMAGE:-{postgres['image']}}}"
    # Published on the runner's loopback only, and healthy before the first step.
    assert postgres["ports"] == ["127.0.0.1:5432:5432"]
    assert "--health-cmd" in postgres["options"]
    user, password = "postgres", postgres["env"]["POSTGRES_PASSWORD"]
    assert make_test["env"]["TEST_POSTGRES_URL"] == (
        f"postgresql://{user}:{password}@127.0.0.1:5432/postgres"
    )
    assert make_test["env"]["REQUIRE_POSTGRES"] == "1"


def test_ci_workflows_install_prometheus_and_require_its_tests(bake):
    """The real-Prometheus scrape test runs in CI, as .ci/run runs it: never a skip.

    Both workflows install the distribution's package before `make test`, and that
    step's environment makes a missing binary a failure.
    """
    for path in (bake() / ".github/workflows/ci.yml", TEMPLATE / ".github/workflows/ci.yml"):
        steps = yaml.safe_load(path.read_text())["jobs"]["test"]["steps"]
        runs = [step.get("run", "") for step in steps]
        (make_test,) = [i for i, run in enumerate(runs) if run == "make test"]
        (install,) = [
            i for i, run in enumerate(runs) if re.search(r"apt-get install .*\bprometheus\b", run)
        ]
        assert install < make_test, path
        assert steps[make_test]["env"]["REQUIRE_PROMETHEUS"] == "1", path
    assert "export REQUIRE_PROMETHEUS=1" in (TEMPLATE / ".ci/run").read_text()


def test_cloud_run_deploy_workflow(bake):
    project = bake()
    path = project / ".github" / "workflows" / "deploy-cloudrun.yml"
    workflow = yaml.safe_load(path.read_text())
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as True
    assert triggers["push"]["branches"] == ["main"] and "workflow_dispatch" in triggers
    assert workflow["concurrency"]["cancel-in-progress"] is False
    (job,) = workflow["jobs"].values()
    assert job["permissions"] == {"contents": "read", "id-token": "write"}
    auth = next(
        s for s in job["steps"] if s.get("uses", "").startswith("google-github-actions/auth@")
    )
    assert {"workload_identity_provider", "service_account"} <= set(auth["with"])
    assert "credentials_json" not in auth["with"]
    script = "\n".join(step.get("run", "") for step in job["steps"])
    assert "docker push" in script and "gcloud run services replace" in script
    # The release job runs, and must succeed, before the service changes.
    assert script.index("gcloud run jobs execute") < script.index("gcloud run services replace")
    assert f"gcloud run jobs execute {project.name}-release " in script and "--wait" in script
    # The placeholder the workflow (and the guide) replaces is each file's image, and
    # the service's project, from the repository variable.
    guide = (project / "docs/deploy-cloud-run.md").read_text()
    for replace in ("s|image: IMAGE|image: $IMAGE|", FILL_PROJECT):
        assert replace in script and replace in guide, replace
    assert job["env"]["PROJECT"] == "${{ vars.GCP_PROJECT_ID }}"
    for name in ("service.yaml", "release-job.yaml"):
        assert (project / "deploy/cloudrun" / name).read_text().count("image: IMAGE") == 1


def test_cloud_run_deploy_workflow_moves_the_scheduled_job_to_the_new_image(bake):
    project = bake(scheduled_jobs="yes")
    workflow = yaml.safe_load((project / ".github/workflows/deploy-cloudrun.yml").read_text())
    (job,) = workflow["jobs"].values()
    script = "\n".join(step.get("run", "") for step in job["steps"])
    update = f'gcloud run jobs update {project.name}-tick --image "$IMAGE" --region "$REGION"'
    # After the release step and the service: its next run is the new code, migrated.
    assert script.index("gcloud run services replace") < script.index(update)
    guide = (project / "docs/scheduled-jobs.md").read_text()
    assert f"gcloud run jobs deploy {project.name}-tick " in guide
    assert "gcloud run jobs update" not in script.replace(update, "")


def test_dependabot_waits_before_proposing_a_release(bake):
    """Every ecosystem has a cooldown of a week at least (zizmor's dependabot-cooldown)."""
    dependabot = yaml.safe_load((bake() / ".github" / "dependabot.yml").read_text())
    ecosystems = {update["package-ecosystem"]: update for update in dependabot["updates"]}
    assert set(ecosystems) == {"pip", "github-actions"}, "the base image is Renovate's"
    for name, update in ecosystems.items():
        cooldown = update["cooldown"]
        assert cooldown["default-days"] >= 7, name
        assert all(days >= cooldown["default-days"] for days in cooldown.values()), name


def test_renovate_follows_the_base_image_the_dockerfile_names(bake):
    """Its pattern, in Python's syntax, finds the default of ARG PYTHON_IMAGE, pinned or not."""
    project = bake(python_version="3.12")
    renovate = json.loads((project / ".github" / "renovate.json").read_text())
    assert renovate["enabledManagers"] == ["custom.regex"]
    (manager,) = renovate["customManagers"]
    (pattern,) = manager["matchStrings"]
    pattern = re.compile(pattern.replace("(?<", "(?P<"))
    dockerfile = (project / "Dockerfile").read_text()
    (found,) = [m.groupdict() for m in pattern.finditer(dockerfile)]
    assert found == {"depName": "python", "currentValue": "3.12-slim", "currentDigest": None}
    # The line the pinned digest gives (autoReplaceStringTemplate), found again.
    digest = "sha256:" + "0" * 64
    pinned = manager["autoReplaceStringTemplate"]
    for name, value in (("depName", "python"), ("newValue", "3.12-slim"), ("newDigest", digest)):
        pinned = pinned.replace("{{" + name + "}}", value)
    pinned = re.sub(r"\{\{#if newDigest\}\}(.*?)\{\{/if\}\}", r"\1", pinned)
    assert pinned == f"ARG PYTHON_IMAGE=python:3.12-slim@{digest}"
    assert pattern.fullmatch(pinned)["currentDigest"] == digest
    # Major and minor updates (another Python) stay the project's decision.
    (rule,) = renovate["packageRules"]
    assert rule["enabled"] is False and set(rule["matchUpdateTypes"]) == {"major", "minor"}


def test_template_update_runs_the_templates_code_without_a_token_that_writes(bake):
    project = bake()
    workflow = yaml.safe_load((project / ".github/workflows/template-update.yml").read_text())
    jobs = workflow["jobs"]
    for name, job in jobs.items():
        for step in job["steps"]:
            if step.get("uses", "").startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False, name
    scripts = {
        name: "\n".join(step.get("run", "") for step in job["steps"]) for name, job in jobs.items()
    }
    (runner,) = [name for name, script in scripts.items() if "copier update" in script]
    assert "cruft update" in scripts[runner]
    # The job that runs the template's code reads, and holds no token of its own.
    assert jobs[runner]["permissions"] == {"contents": "read"}
    assert "github.token" not in yaml.safe_dump(jobs[runner])
    assert "secrets." not in yaml.safe_dump(jobs[runner])
    # copier and cruft from the hashed lock.
    (install,) = [line for line in scripts[runner].splitlines() if "pip install" in line]
    assert "--require-hashes" in install and "-r requirements-update.txt" in install
    # The job that writes runs git and gh, never the template's tools or pip.
    (writer,) = [name for name, job in jobs.items() if job["permissions"]["contents"] == "write"]
    assert jobs[writer]["needs"] == runner
    for tool_name in ("copier", "cruft", "pip", "python"):
        assert not re.search(rf"\b{tool_name}\b", scripts[writer]), tool_name
    assert "push --force origin" in scripts[writer] and "gh pr create" in scripts[writer]


def test_template_update_tools_come_from_a_hashed_lock(bake):
    """requirements-update.txt: the pyproject group's exact versions, hashed, `make lock`'s."""
    project = bake()
    lock = (project / "requirements-update.txt").read_text()
    pins = re.findall(r"^([\w.-]+)==(\S+) \\$", lock, re.MULTILINE)
    assert len(pins) > 2
    assert lock.count("--hash=sha256:") >= len(pins)
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    group = pyproject["dependency-groups"]["template-update"]
    for requirement in group:
        name, version = requirement.split("==")
        assert (name, version) in pins, requirement
        # The versions the template's own update tests run (its requirements-dev.txt).
        assert f"\n{name}=={version} " in (TEMPLATE / "requirements-dev.txt").read_text()
    makefile = (project / "Makefile").read_text()
    assert re.search(
        r"--group pyproject.toml:template-update .*-o requirements-update.txt",
        makefile,
    )
    # Updating by hand uses them too, so every project has them.
    assert "requirements-update.txt" in (project / "docs/template-updates.md").read_text()


def test_ci_workflow_runs_lint_tests_image_and_hadolint(bake):
    text = (bake() / ".github" / "workflows" / "ci.yml").read_text()
    for needed in ("make lint", "make test", "REQUIRE_DOCKER", "make image", "hadolint/"):
        assert needed in text, needed


# ---- README ---------------------------------------------------------------------

# answer -> what its README row, deploy guide and files mention; none may be left when
# it is off, in the README or in any page of docs/.
TRACES = {
    "deploy_cloud_run": ["| Google Cloud Run |", "deploy/cloudrun", "deploy-cloudrun", "gcloud"],
    "deploy_railway": ["| Railway |", ".railway", "railway config"],
    "deploy_heroku": ["| Heroku |", "heroku.yml", "app.json", "Procfile", "heroku "],
    "github_actions": ["## Continuous integration", ".github", "dependabot"],
    "deploy_render": ["| Render |", "render.yaml", "deploy-render"],
    "deploy_fly": ["| Fly.io |", "fly.toml", "deploy-fly"],
    "deploy_kubernetes": ["| Kubernetes |", "deploy/kubernetes", "kubectl"],
    "deploy_systemd": ["| a VM with systemd |", "deploy/systemd", "systemctl"],
}


def documentation(project):
    return "\n".join(
        page.read_text() for page in [project / "README.md", *(project / "docs").glob("*.md")]
    )


@pytest.mark.parametrize("answer", list(TRACES))
def test_readme_has_no_trace_of_a_removed_target(bake, answer):
    on = documentation(bake(**({} if DEFAULTS[answer] else {answer: "yes"})))
    off = documentation(bake(**{answer: "no"}))
    for trace in TRACES[answer]:
        assert trace in on, trace
        assert trace not in off, trace


def test_every_file_the_readme_names_exists(project):
    readme = documentation(project)
    named = re.findall(
        r"`((?:deploy|\.railway|\.github)/[\w./-]+|heroku\.yml|app\.json|Procfile)`", readme
    )
    for relative in named:
        assert (project / relative).exists(), relative

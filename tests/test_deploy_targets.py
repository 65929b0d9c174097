"""Kubernetes, Render, Fly.io, systemd, and Cloud Run's plain path: each checked offline.

Kubernetes: every object, base and rendered overlay (`kubectl kustomize`), against the
Kubernetes schemas of the oldest and newest versions the files support
(kubernetes-validate, strict), the kustomizations against SchemaStore's schema.
Render: a strict schema of the documented fields (tests/schemas/SOURCES.md). Fly.io:
SchemaStore's fly.json. systemd: `systemd-analyze verify` and `security`, and a real
run under systemd as PID 1 in a container. Cloud Run: every gcloud command line of the
guide and the workflow through gcloud's own parser, and the plain path's flags against
service.yaml. Each platform value is checked against the service's own settings.
"""

import hashlib
import json
import math
import os
import re
import shlex
import shutil
import subprocess
import tempfile
import time
import tomllib
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml
from test_deploy_files import (
    EXAMPLE_PROJECT,
    PROJECT_PLACEHOLDER,
    image_metrics_port,
    load_settings_module,
    schema,
    start_command,
    validate,
)

from conftest import DEFAULTS, TEMPLATE, answer, uses_postgres
from docker_images import new_layers, remove_image

WORKER_CLASSES = DEFAULTS["worker_class"]
# Each worker class, and the longest names the answers allow.
BAKES = {
    **{w: {"worker_class": w, "deploy_systemd": "yes"} for w in WORKER_CLASSES},
    "long-names": {
        "project_name": "Cafe Unicode Service, Ünïcode Edition",
        "project_slug": "a" + "-b" * 24,  # 49 characters, Cloud Run's limit
        "package_name": "a_1",
        "deploy_systemd": "yes",
        "scheduled_jobs": "yes",
    },
    "postgresql": {"database": "postgresql", "deploy_systemd": "yes"},
    "scheduled-postgresql": {
        "database": "postgresql",
        "deploy_systemd": "yes",
        "scheduled_jobs": "yes",
    },
}
THREADS = {"sync": 1, "gthread": 4, "gevent": 1}
# The oldest Kubernetes the manifests support (PodDisruptionBudget's
# unhealthyPodEvictionPolicy is GA there) and the newest kubernetes-validate ships.
KUBERNETES_VERSIONS = ("1.31", kubernetes_validate.latest_version())


@pytest.fixture(params=list(BAKES), scope="module")
def project(request, bake):
    return bake(**BAKES[request.param])


def scheduled(project):
    return answer(project, "scheduled_jobs") in (True, "yes")


def required_tool(name, variable):
    path = shutil.which(name)
    if path is None:
        reason = f"{name} is not installed"
        if os.environ.get(variable) == "1":
            pytest.fail(f"{reason} ({variable}=1)")
        pytest.skip(reason)
    return path


# What a Secret mounted as a file holds here: the manifests name the files (their paths
# are checked against the volume elsewhere), the tests hand over a readable stand-in.
SECRET_FILE_CONTENTS = {"DATABASE_URL_FILE": "postgresql://app:placeholder@db.example:5432/app"}


def settings_of(project, env):
    with tempfile.TemporaryDirectory() as folder:
        for name, content in SECRET_FILE_CONTENTS.items():
            if name in env:
                env = {**env, name: str(Path(folder, name))}
                Path(env[name]).write_text(content + "\n")
        return load_settings_module(project).load_settings(env)


def capacity(settings):
    """Requests the workers serve at once without queueing (gevent: its connections)."""
    if settings.worker_class == "gevent":
        return settings.web_concurrency * settings.worker_connections
    return settings.web_concurrency * settings.threads


# ---- Kubernetes -----------------------------------------------------------------

KUBE = Path("deploy/kubernetes")


def yaml_documents(path):
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def base_objects(project):
    base = project / KUBE / "base"
    kustomization = yaml.safe_load((base / "kustomization.yaml").read_text())
    return [obj for name in kustomization["resources"] for obj in yaml_documents(base / name)]


def rendered_overlay(project):
    kubectl = required_tool("kubectl", "REQUIRE_KUBECTL")
    result = subprocess.run(
        [kubectl, "kustomize", str(project / KUBE / "overlays" / "example")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def by_kind(objects):
    kinds = {}
    for obj in objects:
        assert obj["kind"] not in kinds, f"two {obj['kind']} objects"
        kinds[obj["kind"]] = obj
    return kinds


def kube_validate(obj, version):
    try:
        kubernetes_validate.validate(obj, version, strict=True)
    except kubernetes_validate.ValidationError as error:
        path = "/".join(map(str, error.absolute_path))
        raise AssertionError(f"{obj['kind']} at {path}: {error.message}") from None


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_kubernetes_objects_pass_the_kubernetes_schemas(project, version):
    objects = base_objects(project) + rendered_overlay(project)
    assert len(objects) == (14 if scheduled(project) else 12)
    for obj in objects:
        kube_validate(obj, version)


def test_kubernetes_strict_check_catches_a_misspelt_field(bake):
    deployment = by_kind(base_objects(bake()))["Deployment"]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    context = container["securityContext"]
    context["readOnlyRootFileSystem"] = context.pop("readOnlyRootFilesystem")
    with pytest.raises(AssertionError, match="readOnlyRootFileSystem"):
        kube_validate(deployment, KUBERNETES_VERSIONS[-1])


def test_kustomizations_pass_the_schema(project):
    kustomization_schema = schema("kustomization.json")
    for folder in ("base", "overlays/example"):
        document = yaml.safe_load((project / KUBE / folder / "kustomization.yaml").read_text())
        validate(document, kustomization_schema, jsonschema.Draft7Validator)
        for name in [
            *document.get("resources", []),
            *[p["path"] for p in document.get("patches", [])],
        ]:
            assert (project / KUBE / folder / name).exists(), name


def test_kubernetes_overlay_renders_one_environment(project):
    objects = rendered_overlay(project)
    kinds = by_kind(objects)
    overlay = yaml.safe_load((project / KUBE / "overlays/example/kustomization.yaml").read_text())
    (image,) = overlay["images"]
    assert image["name"] == "IMAGE"
    expected = f"{image['newName']}:{image['newTag']}"
    assert all(obj["metadata"]["namespace"] == overlay["namespace"] for obj in objects)
    for kind in workloads(objects):
        (container,) = pod_template(kinds[kind])["spec"]["containers"]
        assert container["image"] == expected, kind
    assert "IMAGE" not in yaml.safe_dump_all(objects).replace("name: IMAGE", "")
    hpa = kinds["HorizontalPodAutoscaler"]["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (3, 20)
    # The guide's two applies: the release Job with the NetworkPolicy that fences it,
    # then everything else.
    component = [obj["metadata"]["labels"]["app.kubernetes.io/component"] for obj in objects]
    assert (
        component.count("release") == 1
        and kinds["Job"]["metadata"]["labels"]["app.kubernetes.io/component"] == "release"
    )
    assert kinds["NetworkPolicy"]["metadata"]["labels"]["app.kubernetes.io/component"] == (
        "network"
    )
    # The CronJob goes with the web objects, after the release step.
    assert component.count("scheduled") == (1 if scheduled(project) else 0)
    assert component.count("web") == len(objects) - 2 - component.count("scheduled")
    guide = (project / "docs/deploy-kubernetes.md").read_text()
    applies = re.findall(r"kubectl apply -f \S+ -l (.+)", guide)
    # The worker's Deployment (background_jobs=rq) goes with them too.
    rest = ["web", "worker"] if answer(project, "background_jobs") == "rq" else ["web"]
    rest += ["scheduled"] if scheduled(project) else []
    assert applies == [
        "'app.kubernetes.io/component in (network,release)'",
        f"'app.kubernetes.io/component in ({','.join(rest)})'",
    ]


def pod_template(obj):
    """A workload's pod template: a CronJob's is inside its Job template."""
    spec = obj["spec"]["jobTemplate"]["spec"] if obj["kind"] == "CronJob" else obj["spec"]
    return spec["template"]


def pod_of(objects, kind):
    return pod_template(by_kind(objects)[kind])["spec"]


def workloads(objects):
    """The kinds that run the image: the web pods, the release Job, the CronJob."""
    return [kind for kind in ("Deployment", "Job", "CronJob") if kind in by_kind(objects)]


def test_kubernetes_deployment_drains_before_it_stops(project):
    objects = base_objects(project)
    pod = pod_of(objects, "Deployment")
    (container,) = pod["containers"]
    env = {item["name"]: item["value"] for item in container["env"] if "value" in item}
    settings = settings_of(project, env)
    pre_stop = container["lifecycle"]["preStop"]["exec"]["command"]
    # A sleep the image runs itself: its own Python, no shell.
    assert pre_stop[0] == "python" and not {"sh", "bash", "/bin/sh"} & set(pre_stop)
    (pause,) = re.findall(r"time\.sleep\((\d+)\)", " ".join(pre_stop))
    assert int(pause) >= 5, "endpoints take a few seconds to drop a pod"
    assert pod["terminationGracePeriodSeconds"] > int(pause) + settings.graceful_timeout
    # Above Google Cloud's Application Load Balancer's fixed 600 s keep-alive.
    assert settings.keepalive > 600
    assert env["FORWARDED_ALLOW_IPS"] == "*"
    # A placeholder: empty answers any Host until the cluster's names are filled in.
    assert env["TRUSTED_HOSTS"] == "" and settings.trusted_hosts == ()
    assert "WEB_CONCURRENCY" not in env, "the workers follow the CPU limit"
    port = container["ports"][0]
    assert port["name"] == "http" and str(port["containerPort"]) == env["PORT"]
    for probe, path in (("startupProbe", "/health"), ("livenessProbe", "/health")):
        assert container[probe]["httpGet"] == {"path": path, "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "http"}
    startup = container["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] <= 120


def test_kubernetes_resources_give_the_workers_the_sizing_computes(project):
    (container,) = pod_of(base_objects(project), "Deployment")["containers"]
    resources = container["resources"]
    assert resources["requests"] == resources["limits"]
    cpu = resources["limits"]["cpu"]
    cpus = math.ceil(int(cpu[:-1]) / 1000 if cpu.endswith("m") else float(cpu))
    settings = settings_of(project, {})
    workers = settings.workers_per_core * cpus + 1
    assert workers == 3
    comment = (project / KUBE / "base/deployment.yaml").read_text()
    assert f"2 x {cpus} + 1 = {workers} workers" in comment
    # Three workers of about 26 MiB each under load (bench/results.md) and the
    # memory-backed /tmp fit with room to grow.
    memory = int(resources["limits"]["memory"].removesuffix("Mi"))
    tmp = next(
        v for v in pod_of(base_objects(project), "Deployment")["volumes"] if v["name"] == "tmp"
    )
    assert memory >= 12 + workers * 26 * 2 + int(tmp["emptyDir"]["sizeLimit"].removesuffix("Mi"))


def test_kubernetes_pods_are_hardened_as_the_container_tests_run_them(project):
    dockerfile = (project / "Dockerfile").read_text()
    assert "USER 10001:0" in dockerfile and "DATA_DIR=/data" in dockerfile
    objects = base_objects(project)
    for kind in workloads(objects):
        pod = pod_of(objects, kind)
        assert pod["automountServiceAccountToken"] is False
        assert pod["enableServiceLinks"] is False
        context = pod["securityContext"]
        assert context["runAsNonRoot"] is True and context["runAsUser"] == 10001
        assert context["runAsGroup"] == 0 and context["fsGroup"] == 0
        assert context["seccompProfile"] == {"type": "RuntimeDefault"}
        (container,) = pod["containers"]
        assert container["securityContext"] == {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        }
        mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
        volumes = {v["name"]: v for v in pod["volumes"]}
        # The pod's mount points: scratch, data, and the Secret's files.
        assert set(mounts) == {"/tmp", "/data", SECRETS_DIR}  # noqa: S108
        assert volumes[mounts["/tmp"]]["emptyDir"]["medium"] == "Memory"  # noqa: S108
        assert "medium" not in volumes[mounts["/data"]]["emptyDir"]


SECRETS_DIR = "/run/secrets/app"


def env_of(container):
    return {item["name"]: item for item in container.get("env", [])}


def test_kubernetes_secrets_reach_the_pods_as_files_never_as_variables(project):
    """SECRET_KEY_FILE names a key of the Secret, mounted read-only, readable by group 0."""
    (config,) = [path.read_text() for path in (project / "src").glob("*/config.py")]
    assert re.search(r'env\.secret\(\s*"SECRET_KEY"', config), "config.py reads SECRET_KEY"
    guide = (project / "docs/deploy-kubernetes.md").read_text()
    (created,) = re.findall(r"create secret generic (\S+) \\\n\s+--from-literal=(\w+)=", guide)
    (command,) = re.findall(r"create secret generic .*?\n(?!\s+--from-literal)", guide, re.DOTALL)
    keys = re.findall(r"--from-literal=(\w+)=", command)
    # The database URL (with its password) is a key of the same Secret, as a file too.
    files = {"SECRET_KEY_FILE", *(["DATABASE_URL_FILE"] if uses_postgres(project) else [])}
    assert keys == [name.removesuffix("_FILE") for name in sorted(files, reverse=True)]
    for objects in (base_objects(project), rendered_overlay(project)):
        for kind in workloads(objects):
            pod = pod_of(objects, kind)
            (container,) = pod["containers"]
            text = yaml.safe_dump(container)
            # No variable is filled from a Secret, one by one or all at once.
            assert "secretKeyRef" not in text and "secretRef" not in text, kind
            env = env_of(container)
            path = Path(env["SECRET_KEY_FILE"]["value"])
            assert "SECRET_KEY" not in env and "DATABASE_URL" not in env, kind
            assert {name for name in env if name.endswith("_FILE")} == files, kind
            for name in files:
                assert Path(env[name]["value"]) == path.parent / name.removesuffix("_FILE")
            (mount,) = [m for m in container["volumeMounts"] if m["mountPath"] == SECRETS_DIR]
            assert path.parent == Path(mount["mountPath"]) and mount["readOnly"] is True
            volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])["secret"]
            assert (volume["secretName"], path.name) == created, kind
            # Owner and group read, nobody else: the service's group is 0 (runAsGroup),
            # and fsGroup gives the files group 0.
            assert volume["defaultMode"] == 0o440, kind
            context = pod["securityContext"]
            assert context["runAsGroup"] == context["fsGroup"] == 0, kind
            # Missing, the file stops the service with a line naming SECRET_KEY_FILE.
            assert volume["optional"] is True
    settings = load_settings_module(project)
    with pytest.raises(settings.SettingsError, match="SECRET_KEY_FILE=.* cannot be read"):
        settings.Env({"SECRET_KEY_FILE": "/nonexistent/key"}).secret("SECRET_KEY", required=False)


def test_kubernetes_network_policy_admits_only_the_ingress_path(project):
    objects = rendered_overlay(project)
    kinds = by_kind(objects)
    policy = kinds["NetworkPolicy"]
    spec = policy["spec"]
    assert policy["metadata"]["namespace"] == kinds["Deployment"]["metadata"]["namespace"]
    # Every pod of the service: the web pods, the release Job's, the CronJob's.
    selector = spec["podSelector"]["matchLabels"]
    for kind in workloads(objects):
        labels = pod_template(kinds[kind])["metadata"]["labels"]
        assert selector.items() <= labels.items(), kind
    assert sorted(spec["policyTypes"]) == ["Egress", "Ingress"]
    # In: two rules, each from one namespace (no empty `from`, which admits everyone),
    # each to one port of the web container: the ingress controller's to http,
    # Prometheus's to metrics.
    (container,) = pod_of(objects, "Deployment")["containers"]
    ports = [port["name"] for port in container["ports"]]
    assert ports == ["http", "metrics"]
    namespaces = {}
    for rule in spec["ingress"]:
        (source,) = rule["from"]
        assert set(source) == {"namespaceSelector"}
        namespace = source["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
        (port,) = rule["ports"]
        namespaces[port["port"]] = namespace
        assert port["protocol"] == "TCP"
    assert namespaces == {"http": "ingress-nginx", "metrics": "monitoring"}
    guide = (project / "docs/deploy-kubernetes.md").read_text()
    assert "`kubernetes.io/metadata.name: ingress-nginx` (the default)" in guide
    assert "`kubernetes.io/metadata.name: monitoring`" in guide
    for kind in workloads(objects)[1:]:
        (job_container,) = pod_of(objects, kind)["containers"]
        assert "ports" not in job_container, f"the ingress rules would reach the {kind}"
    # Out: DNS to the cluster's resolver, PostgreSQL's port with a database, nothing else.
    dns, *others = spec["egress"]
    if uses_postgres(project):
        # Any address (the database's is not known here), one port, TCP only.
        assert others == [{"ports": [{"port": 5432, "protocol": "TCP"}]}]
    else:
        assert others == []
    assert dns["to"] == [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
        }
    ]
    assert sorted((p["port"], p["protocol"]) for p in dns["ports"]) == [(53, "TCP"), (53, "UDP")]


POD_MONITOR = KUBE / "components" / "pod-monitor"


def test_kubernetes_web_pods_declare_the_images_metrics_port(project):
    """The container port named metrics is the image's METRICS_PORT, and the scrape
    annotations name it; no Service port leads to it."""
    kinds = by_kind(base_objects(project))
    template = kinds["Deployment"]["spec"]["template"]
    (container,) = template["spec"]["containers"]
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    metrics_port = image_metrics_port(project)
    assert ports["metrics"] == metrics_port
    env = {item["name"]: item["value"] for item in container["env"] if "value" in item}
    # The image's value applies: a METRICS_PORT here would need the port to follow it.
    assert "METRICS_PORT" not in env and "METRICS_TOKEN" not in env
    settings = settings_of(project, {"PORT": env["PORT"], "METRICS_PORT": str(metrics_port)})
    assert settings.bind[0].endswith(f":{ports['http']}")
    assert settings.metrics.port == metrics_port
    assert template["metadata"]["annotations"] == {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": str(metrics_port),
        "prometheus.io/path": "/metrics",
    }
    assert [p["targetPort"] for p in kinds["Service"]["spec"]["ports"]] == ["http"]


def test_kubernetes_pod_monitor_component_scrapes_the_metrics_port(project, tmp_path):
    """The optional PodMonitor renders with the example overlay (a copy naming the
    component, as the overlay's comment says), selects the web pods and their
    metrics port; the base and the overlay as shipped render without it."""
    kubectl = required_tool("kubectl", "REQUIRE_KUBECTL")
    assert "PodMonitor" not in yaml.safe_dump_all(rendered_overlay(project))
    component = yaml.safe_load((project / POD_MONITOR / "kustomization.yaml").read_text())
    validate(component, schema("kustomization.json"), jsonschema.Draft7Validator)
    assert component["kind"] == "Component"
    overlay_text = (project / KUBE / "overlays/example/kustomization.yaml").read_text()
    assert "# components:\n#   - ../../components/pod-monitor\n" in overlay_text
    copy = tmp_path / "deploy"
    shutil.copytree(project / "deploy", copy)
    overlay = copy / "kubernetes/overlays/example/kustomization.yaml"
    overlay.write_text(overlay_text.replace("# components:\n#   - ", "components:\n  - "))
    result = subprocess.run(
        [kubectl, "kustomize", str(overlay.parent)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    objects = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    kinds = by_kind(objects)
    monitor = kinds["PodMonitor"]
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    deployment = kinds["Deployment"]
    assert monitor["metadata"]["namespace"] == deployment["metadata"]["namespace"]
    # Applied with the web objects by the guide's second apply.
    assert monitor["metadata"]["labels"]["app.kubernetes.io/component"] == "web"
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert monitor["spec"]["selector"]["matchLabels"] == labels
    (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    (port,) = [p for p in container["ports"] if p["name"] == endpoint["port"]]
    assert port["containerPort"] == image_metrics_port(project)
    assert endpoint["path"] == "/metrics"


def test_kubernetes_objects_select_the_web_pods(project):
    kinds = by_kind(base_objects(project))
    deployment = kinds["Deployment"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"] == labels
    assert "replicas" not in deployment["spec"], "the autoscaler owns the count"
    strategy = deployment["spec"]["strategy"]["rollingUpdate"]
    assert strategy["maxUnavailable"] == 0
    assert kinds["Service"]["spec"]["selector"] == labels
    assert kinds["Service"]["spec"]["ports"][0]["targetPort"] == "http"
    assert kinds["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"] == labels
    hpa = kinds["HorizontalPodAutoscaler"]["spec"]
    assert hpa["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    assert hpa["minReplicas"] >= 2 > kinds["PodDisruptionBudget"]["spec"]["maxUnavailable"]
    # The release Job's pods are never counted as web pods.
    job_labels = kinds["Job"]["spec"]["template"]["metadata"]["labels"]
    assert not labels.items() <= job_labels.items()
    assert kinds["Job"]["metadata"]["name"] == f"{project.name}-release"
    assert len(kinds["Job"]["metadata"]["name"]) <= 63


def test_kubernetes_release_job_runs_the_release_step_once(project):
    job = by_kind(base_objects(project))["Job"]["spec"]
    assert job["backoffLimit"] == 0 and job["activeDeadlineSeconds"] <= 600
    pod = job["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    (container,) = pod["containers"]
    assert " ".join([*container["command"], *container["args"]]) == (
        f"{start_command(project)} release"
    )
    # The guide's wait outlasts the Job's deadline, so a slow release fails the wait.
    guide = (project / "docs/deploy-kubernetes.md").read_text()
    (wait,) = re.findall(r"wait --for=condition=complete --timeout=(\d+)s job/(\S+)", guide)
    assert int(wait[0]) > job["activeDeadlineSeconds"] and wait[1] == f"{project.name}-release"


def test_kubernetes_cron_job_runs_the_scheduled_command_once_per_schedule(project):
    kinds = by_kind(base_objects(project))
    if not scheduled(project):
        assert "CronJob" not in kinds
        return
    cron = kinds["CronJob"]
    # CronJob names stop at 52 characters: the Jobs it makes add 11.
    assert cron["metadata"]["name"].endswith("-tick") and len(cron["metadata"]["name"]) <= 52
    spec = cron["spec"]
    assert spec["concurrencyPolicy"] == "Forbid"
    assert spec["timeZone"] == "Etc/UTC"
    minutes = int(re.fullmatch(r"\*/(\d+) \* \* \* \*", spec["schedule"]).group(1))
    job = spec["jobTemplate"]["spec"]
    # A run and its retries end before the next is due; one that cannot start in time
    # is skipped before the next one too.
    assert job["activeDeadlineSeconds"] < minutes * 60
    assert spec["startingDeadlineSeconds"] < minutes * 60
    assert 0 < job["backoffLimit"] <= 3
    pod = job["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    (container,) = pod["containers"]
    assert " ".join([*container["command"], *container["args"]]) == (
        f"{start_command(project)} manage tick"
    )
    # Nothing connects to it and it ends by itself: no ports, no probes.
    assert not {"ports", "livenessProbe", "readinessProbe", "startupProbe"} & set(container)
    # The web pods' variables and mounts, so it runs with the same settings.
    web = pod_of(base_objects(project), "Deployment")
    (web_container,) = web["containers"]
    assert {n for n in env_of(web_container) if n.endswith("_FILE")} == set(
        n for n in env_of(container) if n.endswith("_FILE")
    )
    assert pod["securityContext"] == {
        k: v for k, v in web["securityContext"].items() if k != "fsGroupChangePolicy"
    }
    # Its pods are never counted as web pods.
    web_labels = kinds["Deployment"]["spec"]["selector"]["matchLabels"]
    assert not web_labels.items() <= pod_template(cron)["metadata"]["labels"].items()


# ---- Render ---------------------------------------------------------------------


def render_services(project):
    """type -> the Blueprint's service of that type (one each)."""
    blueprint = yaml.safe_load((project / "render.yaml").read_text())
    validate(blueprint, schema("render-blueprint.schema.json"))
    services = {service["type"]: service for service in blueprint["services"]}
    assert len(services) == len(blueprint["services"])
    assert set(services) == ({"web", "cron"} if scheduled(project) else {"web"})
    return services


def render_service(project):
    return render_services(project)["web"]


def test_render_blueprint_passes_the_schema_and_fits_the_service(project):
    service = render_service(project)
    assert (service["type"], service["runtime"], service["name"]) == ("web", "docker", project.name)
    assert (project / service["dockerfilePath"]).is_file()
    assert "dockerCommand" not in service and "startCommand" not in service  # the image's CMD
    assert service["healthCheckPath"] == "/health"
    assert service["preDeployCommand"] == f"{start_command(project)} release"
    assert service["plan"] != "free", "Free has no pre-deploy command"
    assert "disk" not in service, "the app keeps no files by default"
    literal = {v["key"]: str(v["value"]) for v in service["envVars"] if "value" in v}
    secrets = [v for v in service["envVars"] if "value" not in v]
    assert {"key": "SECRET_KEY", "generateValue": True} in secrets
    assert "PORT" not in literal, "Render sets PORT"
    settings = settings_of(project, literal)
    assert settings.graceful_timeout < service["maxShutdownDelaySeconds"]
    assert literal["FORWARDED_ALLOW_IPS"] == "*"
    assert settings.trusted_hosts == (".onrender.com",)
    github = (project / ".github").exists()
    assert service["autoDeployTrigger"] == ("checksPass" if github else "commit")


@pytest.mark.parametrize(
    "change",
    [
        {"healthCheckPth": "/health"},
        {"maxShutdownDelaySeconds": 301},
        {"envVars": [{"key": "SECRET_KEY", "generateValue": True, "value": "x"}]},
    ],
    ids=["misspelt-field", "delay-over-300", "value-and-generated"],
)
def test_render_schema_catches_a_wrong_blueprint(bake, change):
    blueprint = yaml.safe_load((bake() / "render.yaml").read_text())
    blueprint["services"][0].update(change)
    with pytest.raises(AssertionError):
        validate(blueprint, schema("render-blueprint.schema.json"))


def test_render_database_gives_the_service_its_internal_url(project):
    blueprint = yaml.safe_load((project / "render.yaml").read_text())
    service = render_service(project)
    from_database = [v for v in service["envVars"] if "fromDatabase" in v]
    if not uses_postgres(project):
        assert "databases" not in blueprint and from_database == []
        return
    (database,) = blueprint["databases"]
    # Render keeps the URL (and its password); the file names the database only.
    assert from_database == [
        {
            "key": "DATABASE_URL",
            "fromDatabase": {"name": database["name"], "property": "connectionString"},
        }
    ]
    assert database["name"] == f"{project.name}-db"
    # The internal URL works within one region: the service's.
    assert database["region"] == service["region"]
    assert database["plan"] != "free", "Free databases expire"
    # Nothing outside Render connects.
    assert database["ipAllowList"] == []
    (package,) = [p.parent.name for p in project.glob("src/*/__init__.py")]
    assert database["databaseName"] == database["user"] == package


def test_render_cron_job_runs_the_scheduled_command_from_the_same_image(project):
    services = render_services(project)
    if "cron" not in services:
        return
    web, cron = services["web"], services["cron"]
    assert cron["name"] == f"{project.name}-tick"
    for field in ("runtime", "dockerfilePath", "dockerContext", "region", "plan"):
        assert cron[field] == web[field], field
    assert cron["dockerCommand"] == f"{start_command(project)} manage tick"
    assert re.fullmatch(r"\*/15 \* \* \* \*", cron["schedule"])
    # Cron jobs have no disk, no health check, no release step of their own.
    assert not {"disk", "healthCheckPath", "preDeployCommand"} & set(cron)
    # The web service's secret by reference, and its database's URL.
    keys = {v["key"]: v for v in cron["envVars"]}
    assert keys["SECRET_KEY"]["fromService"] == {
        "type": "web",
        "name": web["name"],
        "envVarKey": "SECRET_KEY",
    }
    web_database = [v for v in web["envVars"] if "fromDatabase" in v]
    assert [v for v in cron["envVars"] if "fromDatabase" in v] == web_database


def test_render_schema_catches_a_wrong_database(bake):
    blueprint = yaml.safe_load((bake(database="postgresql") / "render.yaml").read_text())
    validate(blueprint, schema("render-blueprint.schema.json"))
    blueprint["databases"][0]["ipAllowlist"] = []
    with pytest.raises(AssertionError, match="ipAllowlist"):
        validate(blueprint, schema("render-blueprint.schema.json"))


def test_every_platform_database_runs_the_major_version_compose_runs(bake):
    """compose.yaml's image is what the tests and `docker compose up` run; the managed
    databases the deploy files create are of the same major version."""
    project = bake(database="postgresql")
    compose = yaml.safe_load((project / "compose.yaml").read_text())
    image = compose["services"]["postgres"]["image"]
    (major,) = re.fullmatch(r"\$\{POSTGRES_IMAGE:-postgres:(\d+)-bookworm\}", image).groups()
    (database,) = yaml.safe_load((project / "render.yaml").read_text())["databases"]
    assert database["postgresMajorVersion"] == major
    assert (
        f"--database-version POSTGRES_{major} "
        in (project / "docs/deploy-cloud-run.md").read_text()
    )
    assert f"--pg-major-version {major}\n" in (project / "docs/deploy-fly.md").read_text()
    workflow = yaml.safe_load((project / ".github/workflows/ci.yml").read_text())
    assert workflow["jobs"]["test"]["services"]["postgres"]["image"] == f"postgres:{major}-bookworm"


def test_render_schema_names_the_page_it_was_written_from():
    sources = (TEMPLATE / "tests/schemas/SOURCES.md").read_text()
    assert "render-blueprint.schema.json" in sources
    assert "https://render.com/docs/blueprint-spec, read 2026-12-01" in sources


# ---- Fly.io ---------------------------------------------------------------------


def fly_config(project):
    config = tomllib.loads((project / "fly.toml").read_text())
    validate(config, schema("fly.json"), jsonschema.Draft7Validator)
    return config


def test_fly_config_passes_the_schema_and_fits_the_service(project):
    config = fly_config(project)
    assert config["app"] == project.name
    # Fly's default SIGINT is gunicorn's fast, non-graceful stop.
    assert config["kill_signal"] == "SIGTERM"
    settings = settings_of(project, config["env"])
    assert settings.graceful_timeout < config["kill_timeout"] <= 300
    assert (project / config["build"]["dockerfile"]).is_file()
    assert config["deploy"]["release_command"] == f"{start_command(project)} release"
    service = config["http_service"]
    assert settings.bind[0].endswith(f":{service['internal_port']}")
    (check,) = service["checks"]
    assert (check["method"], check["path"]) == ("GET", "/health")
    limits = service["concurrency"]
    assert limits["type"] == "requests"
    if settings.worker_class == "gevent":
        assert limits["hard_limit"] <= capacity(settings)
    else:
        assert limits["hard_limit"] == capacity(settings), "one request per worker thread"
    assert 1 <= limits["soft_limit"] < limits["hard_limit"] or limits["hard_limit"] == 1
    assert config["env"]["FORWARDED_ALLOW_IPS"] == "*"
    # The app's own fly.dev name, not every fly.dev app's.
    assert f"{config['app']}.fly.dev" in settings.trusted_hosts
    assert "SECRET_KEY" not in config["env"]


def test_fly_metrics_scrape_the_images_metrics_port_of_the_web_machines(project):
    config = fly_config(project)
    metrics = config["metrics"]
    assert metrics["port"] == image_metrics_port(project) != config["http_service"]["internal_port"]
    assert metrics["path"] == "/metrics"
    # Never a public service: only Fly's scraper, on the private network, reads it.
    assert all(s.get("internal_port") != metrics["port"] for s in config.get("services", []))
    assert "METRICS_PORT" not in config["env"] and "METRICS_TOKEN" not in config["env"]
    if "processes" in config:
        # The worker runs no gunicorn: only web's Machines listen on the port.
        assert metrics["processes"] == ["web"]
    else:
        assert "processes" not in metrics


@pytest.mark.parametrize(
    ("section", "key", "value"),
    [
        (None, "kill_signal", "SIGTERN"),
        ("deploy", "release_comand", "python -m x release"),
        ("http_service", "auto_stop_machines", "sometimes"),
        ("metrics", "port", "9102"),
    ],
)
def test_fly_schema_catches_a_wrong_config(bake, section, key, value):
    config = tomllib.loads((bake() / "fly.toml").read_text())
    (config[section] if section else config)[key] = value
    with pytest.raises(AssertionError):
        validate(config, schema("fly.json"), jsonschema.Draft7Validator)


# ---- systemd --------------------------------------------------------------------

SYSTEMD = Path("deploy/systemd")
HARDENING = {
    "NoNewPrivileges": "yes",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
}


def unit(path):
    """[Section] -> [(key, value)] of a unit file (keys repeat, so not configparser)."""
    sections, current = {}, None
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), [])
        else:
            key, _, value = line.partition("=")
            current.append((key, value))
    return sections


def unit_files(project):
    return (
        project / SYSTEMD / f"{project.name}.service",
        project / SYSTEMD / f"{project.name}-release.service",
    )


def every_unit_file(project):
    """The services: web and release, the worker's with background_jobs=rq, the
    scheduled command's with scheduled_jobs=yes (its timer: scheduled_units)."""
    return sorted((project / SYSTEMD).glob("*.service"))


def scheduled_units(project):
    """The scheduled command's oneshot unit and its timer, with scheduled_jobs=yes."""
    service = project / SYSTEMD / f"{project.name}-tick.service"
    timer = project / SYSTEMD / f"{project.name}-tick.timer"
    assert service.exists() == timer.exists() == scheduled(project)
    return (service, timer) if scheduled(project) else ()


def unit_environment(service):
    env = {}
    for key, value in service:
        if key == "Environment":
            env.update(pair.split("=", 1) for pair in shlex.split(value))
    return env


def verify_root(project, tmp_path):
    """A root for `systemd-analyze verify --root`: the host's units, the project's, and
    the release directories' interpreters (verify checks that ExecStart exists)."""
    root = tmp_path / "root"
    (root / "usr/lib/systemd").mkdir(parents=True)
    for system in ("/usr/lib/systemd/system", "/lib/systemd/system"):
        if Path(system).is_dir():
            shutil.copytree(system, root / "usr/lib/systemd/system", symlinks=True)
            break
    (root / "lib").symlink_to("usr/lib")
    (root / "etc/systemd/system").mkdir(parents=True)
    for path in every_unit_file(project):
        service = dict(unit(path)["Service"])
        # ExecReload's /bin/kill is procps's, on every standard host but not in this root.
        for command in (service["ExecStart"], service.get("ExecReload")):
            if command is None:
                continue
            executable = root / command.split()[0].lstrip("/")
            executable.parent.mkdir(parents=True, exist_ok=True)
            executable.write_text("#!/bin/sh\n")
            executable.chmod(0o755)
        shutil.copy(path, root / "etc/systemd/system" / path.name)
    for path in scheduled_units(project):  # ExecStart: the web unit's interpreter
        shutil.copy(path, root / "etc/systemd/system" / path.name)
    return root


def systemd_analyze(*args):
    tool = required_tool("systemd-analyze", "REQUIRE_SYSTEMD")
    return subprocess.run([tool, *args], capture_output=True, text=True, timeout=60)


def test_systemd_units_pass_verify(project, tmp_path):
    root = verify_root(project, tmp_path)
    every = {*every_unit_file(project), *scheduled_units(project)}
    units = [str(root / "etc/systemd/system" / p.name) for p in sorted(every)]
    result = systemd_analyze("verify", f"--root={root}", *units)
    # verify exits 0 on a misspelt directive, with a warning: any output is a failure.
    assert result.returncode == 0 and not (result.stdout + result.stderr).strip(), result.stderr
    # The commented-out secret lines are valid too.
    for path in units:
        text = Path(path).read_text()
        Path(path).write_text(
            text.replace("#LoadCredential=", "LoadCredential=").replace(
                "#Environment=SECRET_KEY_FILE", "Environment=SECRET_KEY_FILE"
            )
        )
    result = systemd_analyze("verify", f"--root={root}", *units)
    assert result.returncode == 0 and not (result.stdout + result.stderr).strip(), result.stderr


def test_systemd_verify_check_catches_a_misspelt_directive(bake, tmp_path):
    project = bake(deploy_systemd="yes")
    root = verify_root(project, tmp_path)
    path = root / "etc/systemd/system" / f"{project.name}.service"
    path.write_text(path.read_text().replace("ProtectHome=yes", "ProtectHomes=yes"))
    result = systemd_analyze("verify", f"--root={root}", str(path))
    assert "ProtectHomes" in result.stderr


def test_systemd_security_exposure_is_low(bake):
    service, _ = unit_files(bake(deploy_systemd="yes"))
    # systemd-analyze rates 0 (locked down) to 10 (unprotected); "OK" is below 2.
    result = systemd_analyze("security", "--offline=yes", "--threshold=20", str(service))
    print(result.stdout.splitlines()[-1])
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr
    (exposure,) = re.findall(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout)
    assert float(exposure) <= 2.0


def test_systemd_units_use_the_local_postgresql_socket(project):
    for path in unit_files(project):
        section = unit(path)["Unit"]
        after = " ".join(v for k, v in section if k == "After").split()
        wants = " ".join(v for k, v in section if k == "Wants").split()
        # Wants=, never Requires=: a database restart must not stop the service.
        assert not any(k in ("Requires", "BindsTo") for k, _ in section), path.name
        if uses_postgres(project):
            assert "postgresql.service" in after and "postgresql.service" in wants, path.name
        else:
            assert "postgresql.service" not in after + wants, path.name
        values = dict(unit(path)["Service"])
        assert "AF_UNIX" in values["RestrictAddressFamilies"].split()
    env = dict(
        line.split("=", 1)
        for line in (project / SYSTEMD / "env.example").read_text().splitlines()
        if line and not line.startswith("#")
    )
    if not uses_postgres(project):
        assert "DATABASE_URL" not in env
        return
    # Peer authentication: the role is the service's (dynamic) user, no password.
    user = dict(unit(unit_files(project)[0])["Service"])["User"]
    (package,) = [p.parent.name for p in project.glob("src/*/__init__.py")]
    assert env["DATABASE_URL"] == f"postgresql://{user}@/{package}?host=/run/postgresql"
    guide = (project / "docs/deploy-systemd.md").read_text()
    assert f"createuser {user}\n" in guide and f"createdb --owner {user} {package}\n" in guide


def test_systemd_metrics_port_is_the_images_on_the_loopback(project):
    """env.example turns the metrics port on as the image does; with the unit's HOST it
    listens on the loopback only, for a Prometheus on the host."""
    env = dict(
        line.split("=", 1)
        for line in (project / SYSTEMD / "env.example").read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert int(env["METRICS_PORT"]) == image_metrics_port(project)
    web = unit_environment(unit(unit_files(project)[0])["Service"])
    settings = settings_of(project, {**web, "METRICS_PORT": env["METRICS_PORT"]})
    assert settings.metrics.address == f"127.0.0.1:{env['METRICS_PORT']}"


def test_systemd_units_run_the_start_command_and_drain(project):
    service_path, release_path = unit_files(project)
    web, release = unit(service_path), unit(release_path)
    service = web["Service"]
    values = dict(service)
    command = start_command(project).removeprefix("python ")
    assert values["ExecStart"] == f"/srv/{project.name}/current/.venv/bin/python {command}"
    assert dict(release["Service"])["ExecStart"] == (
        f"/srv/{project.name}/next/.venv/bin/python {command} release"
    )
    assert values["Type"] == "notify" and values["NotifyAccess"] == "main"
    assert values["ExecReload"] == "/bin/kill -HUP $MAINPID"
    env = unit_environment(service)
    settings = settings_of(project, env)
    assert values["KillMode"] == "mixed" and values["KillSignal"] == "SIGTERM"
    assert int(values["TimeoutStopSec"]) > settings.graceful_timeout
    assert values["Restart"] == "on-failure" and values["RestartPreventExitStatus"] == "2"
    assert {"StartLimitIntervalSec", "StartLimitBurst"} <= dict(web["Unit"]).keys()
    assert values["EnvironmentFile"] == f"-/etc/{project.name}/env"
    # One writable place, the data location.
    assert values["StateDirectory"] == project.name
    assert env["DATA_DIR"] == f"%S/{project.name}"
    assert "ReadWritePaths" not in values
    assert env["HOST"] == "127.0.0.1" and settings.keepalive > 120  # Caddy keeps 2 min
    assert values["DynamicUser"] == "yes" and len(values["User"]) <= 31
    assert HARDENING.items() <= values.items()
    # The release unit runs as the same user with the same hardening.
    hardening = {k: v for k, v in service if k not in {"ExecStart", "Type", "NotifyAccess"}}
    release_values = dict(release["Service"])
    for key in ("User", "StateDirectory", "EnvironmentFile", *HARDENING, "SystemCallFilter"):
        assert release_values[key] == hardening[key], key
    assert release_values["Type"] == "oneshot"


def test_systemd_timer_runs_the_scheduled_command_once_at_a_time(project):
    units = scheduled_units(project)
    if not units:
        return
    service_path, timer_path = units
    tick, timer = unit(service_path), unit(timer_path)
    values = dict(tick["Service"])
    command = start_command(project).removeprefix("python ")
    assert values["ExecStart"] == (
        f"/srv/{project.name}/current/.venv/bin/python {command} manage tick"
    )
    # One run to its end; a timer never starts a unit that is still running.
    assert values["Type"] == "oneshot" and "Restart" not in values
    # The web unit's user, data location, configuration and hardening.
    web = dict(unit(unit_files(project)[0])["Service"])
    for key in ("User", "StateDirectory", "EnvironmentFile", *HARDENING, "SystemCallFilter"):
        assert values[key] == web[key], key
    assert unit_environment(tick["Service"])["DATA_DIR"] == f"%S/{project.name}"
    when = dict(timer["Timer"])
    (minutes,) = re.fullmatch(r"\*:0/(\d+)", when["OnCalendar"]).groups()
    # A run that hangs is stopped before the next is due.
    assert int(values["TimeoutStartSec"]) < int(minutes) * 60
    assert when["Persistent"] == "true"
    assert 0 < int(when["RandomizedDelaySec"]) < int(minutes) * 60
    # No Unit=: the timer starts the service of its own name.
    assert "Unit" not in when and timer_path.stem == service_path.stem
    assert dict(timer["Install"])["WantedBy"] == "timers.target"
    result = systemd_analyze("calendar", when["OnCalendar"])
    assert result.returncode == 0, result.stderr


# ---- systemd, for real ----------------------------------------------------------

SYSTEMD_IMAGE = """\
FROM {app} AS app
FROM {base}
RUN apt-get update -qq \\
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \\
        systemd systemd-sysv procps >/dev/null \\
    && rm -rf /var/lib/apt/lists/*
# The image's venv as a release directory, `current` and `next` both pointing at it.
COPY --from=app /opt/venv /srv/{slug}/releases/1/.venv
RUN ln -s releases/1 /srv/{slug}/current && ln -s releases/1 /srv/{slug}/next
COPY units/ /etc/systemd/system/
"""
# Docker masks parts of /proc, and the kernel then refuses the new /proc instance that
# ProtectProc=invisible mounts in the unit's user namespace (PrivateUsers=yes): this
# one directive is relaxed for the container run, everything else runs as shipped.
CONTAINER_DROP_IN = "[Service]\nProtectProc=default\n"


def docker_client():
    docker = pytest.importorskip("docker")
    try:
        client = docker.from_env()
        client.ping()
    except Exception as error:
        if os.environ.get("REQUIRE_DOCKER") == "1":
            pytest.fail(f"no Docker engine: {error} (REQUIRE_DOCKER=1)")
        pytest.skip(f"no Docker engine: {error}")
    return client


def poll(check, what, deadline_s=30.0):
    deadline = time.monotonic() + deadline_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


@pytest.fixture
def built_images():
    """Tag -> the layers its build made: all removed after the test, even on failure."""
    built: dict[str, list[str]] = {}
    yield built
    if built:
        client = docker_client()
        for tag, layers in reversed(built.items()):
            remove_image(client, tag, layers)


@pytest.mark.docker
def test_systemd_units_serve_stop_and_restart_under_systemd(bake, tmp_path, built_images):
    if Path("/sys/fs/cgroup/cgroup.controllers").exists():
        pytest.skip("made to work on a cgroup v1 host only (this template's CI machine)")
    client = docker_client()
    project = bake(deploy_systemd="yes")
    slug = project.name
    base = os.environ.get("PYTHON_IMAGE", f"python:{DEFAULTS['python_version'][0]}-slim")
    key = hashlib.sha256(f"{project}{base}".encode()).hexdigest()[:10]
    app_tag, systemd_tag = f"wsgi-template-app:{key}", f"wsgi-template-systemd:{key}"
    _, app_log = client.images.build(
        path=str(project), tag=app_tag, buildargs={"PYTHON_IMAGE": base}, rm=True
    )
    built_images[app_tag] = new_layers(app_log)
    context = tmp_path / "context"
    (context / "units").mkdir(parents=True)
    for path in unit_files(project):
        shutil.copy(path, context / "units" / path.name)
        drop_in = context / "units" / f"{path.name}.d"
        drop_in.mkdir()
        (drop_in / "container.conf").write_text(CONTAINER_DROP_IN)
    (context / "Dockerfile").write_text(SYSTEMD_IMAGE.format(app=app_tag, base=base, slug=slug))
    _, systemd_log = client.images.build(path=str(context), tag=systemd_tag, rm=True)
    built_images[systemd_tag] = new_layers(systemd_log)

    container = client.containers.run(
        systemd_tag,
        # systemd 257 boots on a cgroup v1 host only when told to.
        [
            "/sbin/init",
            "systemd.unified_cgroup_hierarchy=0",
            "SYSTEMD_CGROUP_ENABLE_LEGACY_FORCE=1",
        ],
        detach=True,
        network_mode="none",
        cap_add=["SYS_ADMIN"],
        tmpfs={"/run": "", "/run/lock": "", "/tmp": ""},  # noqa: S108 (the container's)
        volumes={"/sys/fs/cgroup": {"bind": "/sys/fs/cgroup", "mode": "ro"}},
    )

    def run(*command):
        code, output = container.exec_run(list(command))
        return code, output.decode(errors="replace").strip()

    def show(prop):
        return run("systemctl", "show", "-p", prop, "--value", slug)[1]

    def health():
        code, output = run(
            "python3",
            "-c",
            "import urllib.request; print(urllib.request.urlopen("
            "'http://127.0.0.1:8080/health', timeout=2).status)",
        )
        return code == 0 and output == "200"

    try:
        started = time.monotonic()
        poll(
            lambda: run("systemctl", "is-system-running")[1] in ("running", "degraded"),
            "systemd to boot",
        )
        booted = time.monotonic() - started
        code, output = run("systemctl", "start", f"{slug}-release")
        assert code == 0, run("journalctl", "-u", f"{slug}-release", "--no-pager")[1]
        start = time.monotonic()
        code, output = run("systemctl", "start", slug)
        assert code == 0, run("journalctl", "-u", slug, "--no-pager")[1]
        poll(health, "/health")
        serving = time.monotonic() - start
        journal = run("journalctl", "-u", slug, "-o", "cat", "--no-pager")[1].splitlines()
        lines = [json.loads(line) for line in journal if line.startswith("{")]
        assert any(line["message"] == "gunicorn configuration" for line in lines), journal
        assert show("User") == slug[:31].rstrip("-")

        # systemctl reload: new workers, the same master, the unit active throughout.
        main_pid = show("MainPID")

        def workers():
            return set(run("cat", f"/proc/{main_pid}/task/{main_pid}/children")[1].split())

        before = workers()
        assert before, main_pid
        start = time.monotonic()
        code, output = run("systemctl", "reload", slug)
        assert code == 0, output
        poll(
            lambda: workers().isdisjoint(before) and show("ActiveState") == "active" and health(),
            "the reload",
        )
        reloaded = time.monotonic() - start
        assert show("MainPID") == main_pid
        journal = run("journalctl", "-u", slug, "-o", "cat", "--no-pager")[1]
        assert "Hang up" in journal

        start = time.monotonic()
        assert run("systemctl", "kill", "--signal=SIGKILL", "--kill-whom=main", slug)[0] == 0
        poll(lambda: show("MainPID") not in ("0", main_pid) and health(), "the restart")
        restarted = time.monotonic() - start
        assert show("NRestarts") == "1"

        start = time.monotonic()
        code, output = run("systemctl", "stop", slug)
        stopped = time.monotonic() - start
        assert code == 0, output
        assert (show("ActiveState"), show("Result")) == ("inactive", "success")
        assert stopped < int(dict(unit(unit_files(project)[0])["Service"])["TimeoutStopSec"])
        print(
            f"systemd in a container: booted {booted:.2f} s; start to /health "
            f"{serving:.2f} s; systemctl reload to new workers serving {reloaded:.2f} s; "
            f"restart after SIGKILL of the master {restarted:.2f} s "
            f"(RestartSec=2); systemctl stop {stopped:.2f} s"
        )
    except AssertionError:
        print(container.logs().decode(errors="replace")[-3000:])
        print(run("journalctl", "--no-pager", "-n", "80")[1])
        raise
    finally:
        container.remove(force=True)


# ---- Cloud Run, the plain path --------------------------------------------------

# What an account-less gcloud says once it has parsed the command line.
NO_ACCOUNT = "You do not currently have an active account selected"
SHELL_VARIABLES = {
    "PROJECT": EXAMPLE_PROJECT,
    "REGION": "europe-west1",
    "REPOSITORY": "containers",
    "RUNNER_TEMP": "",  # filled per test
    # The deploy workflow's, from its repository variables.
    "CLOUD_SQL_INSTANCE": "p-123456:europe-west1:my-service",
}


def shell_blocks(markdown):
    return re.findall(r"^```sh\n(.*?)^```", markdown, re.MULTILINE | re.DOTALL)


def command_lines(script):
    """Logical lines (continuations joined, comments dropped), split at `&&`."""
    joined = re.sub(r"\\\n\s*", " ", script)
    lines = []
    for line in joined.splitlines():
        line = re.sub(r"\s+#\s.*$", "", line).strip()
        if line and not line.startswith("#"):
            lines += [part.strip() for part in line.split(" && ")]
    return lines


def run_gcloud_lines(lines, project, tmp_path):
    gcloud = required_tool("gcloud", "REQUIRE_GCLOUD")
    image = f"europe-west1-docker.pkg.dev/p-123456/containers/{project.name}:abc1234"
    env = {
        **os.environ,
        **SHELL_VARIABLES,
        "RUNNER_TEMP": str(tmp_path),
        "IMAGE": image,
        "PATH": f"{Path(gcloud).parent}:{os.environ['PATH']}",
        # A config folder and home of their own: no account, no prompts, and
        # `gcloud auth configure-docker` writes nowhere of the user's.
        "HOME": str(tmp_path),
        "CLOUDSDK_CONFIG": str(tmp_path / "gcloud"),
        "CLOUDSDK_CORE_DISABLE_PROMPTS": "1",
        # The project the workflow gets from its auth step.
        "CLOUDSDK_CORE_PROJECT": SHELL_VARIABLES["PROJECT"],
    }
    ran = []
    for line in lines:
        line = line.replace("/tmp/", f"{tmp_path}/")  # noqa: S108 (the guide's scratch files)
        if not (line.startswith(("gcloud ", "sed ")) or "| gcloud " in line):
            continue  # docker, git, assignments: not gcloud's to parse
        result = subprocess.run(  # noqa: S603 (the guide's own lines, in a scratch home)
            ["bash", "-c", line],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
        )
        output = result.stdout + result.stderr
        if line.startswith("sed "):
            assert result.returncode == 0, output
            continue
        assert result.returncode == 0 or NO_ACCOUNT in output, f"{line}\n{output}"
        ran.append(line)
    return ran


@pytest.mark.parametrize("database", DEFAULTS["database"])
def test_every_gcloud_line_of_the_cloud_run_guide_parses(bake, tmp_path, database):
    project = bake(database=database)
    guide = (project / "docs/deploy-cloud-run.md").read_text()
    lines = [line for block in shell_blocks(guide) for line in command_lines(block)]
    ran = run_gcloud_lines(lines, project, tmp_path)
    needed = ["gcloud run deploy ", "gcloud run jobs deploy ", "gcloud run services replace "]
    if database == "postgresql":
        needed += ["gcloud sql instances create ", "gcloud sql users create ", "gcloud secrets"]
    for start in needed:
        assert any(line.startswith(start) or f"| {start}" in line for line in ran), start
    # The files gcloud was given had their Cloud SQL placeholder filled by sed.
    for name in ("service.yaml", "release-job.yaml"):
        filled = (tmp_path / name).read_text()
        assert "CLOUD_SQL_INSTANCE" not in filled and "image: IMAGE" not in filled
        if database == "postgresql":
            assert f"cloudsql-instances: p-123456:europe-west1:{project.name}\n" in filled
    assert_project_filled(tmp_path / "service.yaml")


def assert_project_filled(path):
    """The service gcloud was given names the project: its log lines get their trace."""
    service = yaml.safe_load(path.read_text())
    (container,) = service["spec"]["template"]["spec"]["containers"]
    env = {item["name"]: item.get("value") for item in container["env"]}
    assert env["GOOGLE_CLOUD_PROJECT"] == EXAMPLE_PROJECT
    assert PROJECT_PLACEHOLDER not in path.read_text()


@pytest.mark.parametrize("database", DEFAULTS["database"])
def test_every_gcloud_line_of_the_scheduled_jobs_guide_parses(bake, tmp_path, database):
    project = bake(database=database, scheduled_jobs="yes")
    guide = (project / "docs/scheduled-jobs.md").read_text()
    lines = [line for block in shell_blocks(guide) for line in command_lines(block)]
    ran = run_gcloud_lines(lines, project, tmp_path)
    starts = [
        "gcloud run jobs deploy ",
        "gcloud iam service-accounts create ",
        "gcloud run jobs add-iam-policy-binding ",
        "gcloud scheduler jobs create http ",
    ]
    assert [next(s for s in starts if line.startswith(s)) for line in ran] == starts
    deploy, account, binding, schedule = (flags(line) for line in ran)
    job = shlex.split(ran[0])[4]
    assert job == f"{project.name}-tick"
    assert [deploy["command"], *deploy["args"].split(",")] == [
        *start_command(project).split(),
        "manage",
        "tick",
    ]
    # Executions of a Cloud Run job may overlap: every try of a run ends before the
    # next run is due.
    (minutes,) = re.fullmatch(r"\*/(\d+) \* \* \* \*", schedule["schedule"]).groups()
    tries = int(deploy["max-retries"]) + 1
    assert tries * int(deploy["task-timeout"]) < int(minutes) * 60
    assert schedule["time-zone"] == "Etc/UTC" and schedule["max-retry-attempts"] == "0"
    assert schedule["uri"] == (
        f"https://run.googleapis.com/v2/projects/$PROJECT/locations/$REGION/jobs/{job}:run"
    )
    # The scheduler runs as the account made for it, allowed to run this job only.
    (account_id,) = [w for w in shlex.split(ran[1]) if not w.startswith("-")][4:5]
    email = f"{account_id}@$PROJECT.iam.gserviceaccount.com"
    assert 6 <= len(account_id) <= 30
    assert schedule["oauth-service-account-email"] == email
    assert shlex.split(ran[2])[4] == job
    assert binding["member"] == f"serviceAccount:{email}"
    assert binding["role"] == "roles/run.invoker"
    if database == "postgresql":
        assert "set-cloudsql-instances" in deploy and "set-secrets" in deploy


@pytest.mark.parametrize("database", DEFAULTS["database"])
def test_every_gcloud_line_of_the_deploy_workflow_parses(bake, tmp_path, database):
    # With a database, the scheduled job's step too.
    project = bake(database=database, **({"scheduled_jobs": "yes"} if database != "none" else {}))
    workflow = yaml.safe_load((project / ".github/workflows/deploy-cloudrun.yml").read_text())
    (job,) = workflow["jobs"].values()
    lines = [
        line.strip()
        for step in job["steps"]
        for line in step.get("run", "").splitlines()
        if line.strip()
    ]
    ran = run_gcloud_lines(lines, project, tmp_path)
    assert len(ran) == sum(line.startswith("gcloud ") for line in lines) >= 4
    assert_project_filled(tmp_path / "service.yaml")


def test_gcloud_line_check_catches_a_wrong_flag(bake, tmp_path):
    project = bake()
    with pytest.raises(AssertionError, match="unrecognized arguments"):
        run_gcloud_lines([f"gcloud run deploy {project.name} --cpu-boosts"], project, tmp_path)
    with pytest.raises(AssertionError, match="not recognized"):
        run_gcloud_lines(
            [f"gcloud run deploy {project.name} --startup-probe httpGet.pathh=/health"],
            project,
            tmp_path,
        )


def flags(line):
    """--name value / --name=value / --name (boolean) of one gcloud command line."""
    words, parsed = shlex.split(line), {}
    i = 0
    while i < len(words):
        word = words[i]
        if word.startswith("--"):
            name, equals, value = word[2:].partition("=")
            if not equals and i + 1 < len(words) and not words[i + 1].startswith("--"):
                value, i = words[i + 1], i + 1
            parsed[name] = value if (equals or value) else True
        i += 1
    return parsed


def probe_flag(probe):
    flat = {f"httpGet.{k}": str(v) for k, v in probe["httpGet"].items()}
    flat.update({k: str(v) for k, v in probe.items() if k != "httpGet"})
    return flat


def test_plain_path_deploys_the_service_of_service_yaml(platform_bake):
    project = platform_bake
    guide = (project / "docs/deploy-cloud-run.md").read_text()
    lines = [line for block in shell_blocks(guide) for line in command_lines(block)]
    (deploy,) = [line for line in lines if line.startswith("gcloud run deploy ")]
    (job_deploy,) = [line for line in lines if line.startswith("gcloud run jobs deploy ")]
    assert "docker build --platform linux/amd64 " in guide

    service = yaml.safe_load((project / "deploy/cloudrun/service.yaml").read_text())
    template = service["spec"]["template"]
    annotations = template["metadata"]["annotations"]
    (container,) = template["spec"]["containers"]
    given = flags(deploy)
    assert shlex.split(deploy)[3] == service["metadata"]["name"]
    assert given["port"] == str(container["ports"][0]["containerPort"])
    assert given["cpu"] == container["resources"]["limits"]["cpu"]
    assert given["memory"] == container["resources"]["limits"]["memory"]
    assert given["concurrency"] == str(template["spec"]["containerConcurrency"])
    assert given["timeout"] == str(template["spec"]["timeoutSeconds"])
    assert given["max-instances"] == annotations["autoscaling.knative.dev/maxScale"]
    assert given["ingress"] == service["metadata"]["annotations"]["run.googleapis.com/ingress"]
    assert annotations["run.googleapis.com/startup-cpu-boost"] == "true" and given["cpu-boost"]
    assert annotations["run.googleapis.com/cpu-throttling"] == "true" and given["cpu-throttling"]
    env = dict(pair.split("=", 1) for pair in given["set-env-vars"].split(","))
    file_env = {item["name"]: item["value"] for item in container["env"] if "value" in item}
    # The file's project placeholder is the guide's $PROJECT, as its sed fills it.
    assert file_env["GOOGLE_CLOUD_PROJECT"] == PROJECT_PLACEHOLDER
    assert env == {**file_env, "GOOGLE_CLOUD_PROJECT": "$PROJECT"}
    check_database_flags(given, template, container, project)
    for probe in ("startup", "liveness"):
        flag = dict(pair.split("=", 1) for pair in given[f"{probe}-probe"].split(","))
        assert flag == probe_flag(container[f"{probe}Probe"]), probe

    job = yaml.safe_load((project / "deploy/cloudrun/release-job.yaml").read_text())
    execution = job["spec"]["template"]["spec"]
    task = execution["template"]["spec"]
    (job_container,) = task["containers"]
    given = flags(job_deploy)
    assert shlex.split(job_deploy)[4] == job["metadata"]["name"]
    assert [given["command"], *given["args"].split(",")] == [
        *job_container["command"],
        *job_container["args"],
    ]
    assert given["tasks"] == str(execution["taskCount"])
    assert given["max-retries"] == str(task["maxRetries"])
    assert given["task-timeout"] == str(task["timeoutSeconds"])
    assert given["cpu"] == job_container["resources"]["limits"]["cpu"]
    assert given["memory"] == job_container["resources"]["limits"]["memory"]
    job_env = dict(pair.split("=", 1) for pair in given["set-env-vars"].split(","))
    assert job_env == {
        item["name"]: item["value"] for item in job_container["env"] if "value" in item
    }
    check_database_flags(given, job["spec"]["template"], job_container, project)


def check_database_flags(given, template, container, project):
    """The plain path's Cloud SQL flags are the file's annotation and secret."""
    secrets = [item for item in container["env"] if "valueFrom" in item]
    annotations = template.get("metadata", {}).get("annotations", {})
    if not uses_postgres(project):
        assert "set-cloudsql-instances" not in given and "set-secrets" not in given
        assert secrets == [] and "run.googleapis.com/cloudsql-instances" not in annotations
        return
    # The file's placeholder, as the guide's sed fills it.
    assert annotations["run.googleapis.com/cloudsql-instances"] == "CLOUD_SQL_INSTANCE"
    assert given["set-cloudsql-instances"] == f"$PROJECT:$REGION:{project.name}"
    assert given["set-secrets"] == ",".join(
        f"{item['name']}={item['valueFrom']['secretKeyRef']['name']}:"
        f"{item['valueFrom']['secretKeyRef']['key']}"
        for item in secrets
    )


@pytest.fixture(params=[*WORKER_CLASSES, "postgresql"], scope="module")
def platform_bake(request, bake):
    if request.param == "postgresql":
        return bake(database="postgresql")
    return bake(worker_class=request.param)


# ---- Schemas in the repository --------------------------------------------------


def test_every_schema_the_tests_use_is_in_the_repository_with_its_source():
    folder = TEMPLATE / "tests" / "schemas"
    sources = (folder / "SOURCES.md").read_text()
    used = set()
    for test_file in (TEMPLATE / "tests").glob("test_*.py"):
        used |= set(re.findall(r'schema\("([^"]+)"\)', test_file.read_text()))
    assert len(used) >= 6, used
    for name in used:
        assert (folder / name).is_file(), name
        json.loads((folder / name).read_text())
        assert f"`{name}`" in sources or f"`{Path(name).name}`" in sources, name

// Railway Infrastructure as Code: `railway config plan`, then `railway config apply`
// (Railway CLI 5.42.1 or newer). Reference: https://docs.railway.com/infrastructure-as-code
{%- set redis = cookiecutter.background_jobs == "rq" or cookiecutter.websockets == "socketio" %}
import { defineRailway, {% if cookiecutter.database == "postgresql" %}postgres, {% endif %}preserve, project, {% if redis %}redis, {% endif %}service } from "railway/iac";

export default defineRailway(() => {
{%- if cookiecutter.database == "postgresql" %}
  // Railway's PostgreSQL template as a service of this project (the SDK's image and a
  // volume for its data). Its name is the one a variable reference uses.
  const db = postgres("Postgres");
{% endif %}
{%- if redis %}
  // Railway's Redis template as a service of this project (the SDK's image and a
  // volume for its data): {% if cookiecutter.background_jobs == "rq" %}the jobs' queues, reached by web and worker on the
  // private network{% else %}Socket.IO's message queue, reached by web on the
  // private network{% endif %}.
  const kv = redis("Redis");
{% endif %}
  const web = service("{{ cookiecutter.project_slug }}", {
    // No source: `railway up` uploads this folder. Connect a GitHub repository in
    // the dashboard (or add `source: github("owner/repo")`) to deploy on push.
    build: {
      // The same image as everywhere else, its CMD included: `python -m {{ cookiecutter.package_name }}`.
      builder: "DOCKERFILE",
      dockerfilePath: "Dockerfile",
    },
    // A deploy goes live only once /health answers 200 on $PORT; gunicorn starts
    // in seconds, so a minute is ample.
    healthcheck: "/health",
    healthcheckTimeout: 60,
    // The release step (cli.py's `release`), once per deploy in a container of the
    // new image, before it takes traffic; a non-zero exit stops the deploy.
    preDeploy: "python -m {{ cookiecutter.package_name }} release",
    deploy: {
      // A crashed process comes back; a bad configuration (exit code 2) gives up
      // after ten tries instead of looping forever.
      restartPolicyType: "ON_FAILURE",
      restartPolicyMaxRetries: 10,
      // Seconds between SIGTERM and SIGKILL for the old deployment (Railway's
      // default is none); GUNICORN_GRACEFUL_TIMEOUT stays under it.
      drainingSeconds: 15,
    },
    env: {
      // Railway's CPU limit is the plan's maximum, not a share sized for this
      // service: a fixed count keeps memory (and the bill) predictable.
      WEB_CONCURRENCY: "3",
      GUNICORN_GRACEFUL_TIMEOUT: "10",
      // Railway's edge proxy is the only way in, from addresses not known here; of
      // its headers only X-Forwarded-Proto counts (serving/gunicorn_config.py).
      FORWARDED_ALLOW_IPS: "*",
      // The Host names served; others get a 400, /health excepted (Railway checks it
      // with Host healthcheck.railway.app): Railway's generated domains and the
      // private network's. Add your custom domains.
      TRUSTED_HOSTS: ".up.railway.app,.railway.internal",
      // A secret lives in Railway's variables, never here: set it once with
      // `railway variables --set SECRET_KEY=...`; preserve() keeps that value on
      // every apply. Required once config.py sets USES_SESSIONS = True.
      SECRET_KEY: preserve(),
{%- if cookiecutter.database == "postgresql" %}
      // A reference, ${{ '{{' }}Postgres.DATABASE_URL{{ '}}' }}, resolved by Railway at deploy: the
      // private network's URL (postgres.railway.internal), so no traffic leaves the
      // project and no password is written here. The pre-deploy release step gets it
      // too, and migrates before the new deployment takes traffic.
      DATABASE_URL: db.env.DATABASE_URL,
{%- endif %}
{%- if redis %}
      // ${{ '{{' }}Redis.REDIS_URL{{ '}}' }}: {% if cookiecutter.background_jobs == "rq" %}where views enqueue jobs{% else %}Socket.IO's message queue, so rooms and
      // broadcasts reach every worker and replica{% endif %}, on the private network.
      REDIS_URL: kv.env.REDIS_URL,
{%- endif %}
    },
    // State that must outlive a deploy needs a volume on DATA_DIR (docs/state.md):
    // import `volume` above and add
    //   volumeMounts: { "/data": volume("{{ cookiecutter.project_slug }}-data") },
  });
{%- if cookiecutter.background_jobs == "rq" %}

  // The background worker (docs/background-jobs.md): the same Dockerfile and image,
  // another process of the start command. No healthcheck: it serves no port, and
  // Railway restarts it when the process exits. One RQ worker per replica.
  const worker = service("{{ cookiecutter.project_slug }}-worker", {
    build: {
      builder: "DOCKERFILE",
      dockerfilePath: "Dockerfile",
    },
    startCommand: "python -m {{ cookiecutter.package_name }} worker",
    deploy: {
      restartPolicyType: "ON_FAILURE",
      restartPolicyMaxRetries: 10,
      // Seconds between SIGTERM and SIGKILL for the old deployment:
      // WORKER_STOP_TIMEOUT (25) and 5 s for the requeue and the exit.
      drainingSeconds: 30,
    },
    env: {
      // The current job gets 25 s after SIGTERM, then goes back to its queue.
      WORKER_STOP_TIMEOUT: "25",
      REDIS_URL: kv.env.REDIS_URL,
      // The web service's key, by reference: jobs run the same app.
      SECRET_KEY: web.env.SECRET_KEY,
{%- if cookiecutter.database == "postgresql" %}
      DATABASE_URL: db.env.DATABASE_URL,
{%- endif %}
    },
  });
{%- endif %}
{%- if cookiecutter.scheduled_jobs %}

  // The scheduled command (scheduled.py's `tick`) as a cron service: Railway starts
  // it from the same image on the schedule and expects it to exit. Railway's clock
  // runs it once, never a scheduler inside the web workers (docs/scheduled-jobs.md).
  const tick = service("{{ cookiecutter.project_slug }}-tick", {
    build: {
      builder: "DOCKERFILE",
      dockerfilePath: "Dockerfile",
    },
    deploy: {
      // The command instead of the image's CMD (the web server).
      startCommand: "python -m {{ cookiecutter.package_name }} manage tick",
      // Every 15 minutes, in UTC (Railway's clock; 5 minutes is its shortest
      // interval). A run still going when the next is due: Railway skips the next.
      cronSchedule: "*/15 * * * *",
      // A run that fails is not restarted: the next scheduled run redoes it, and a
      // restart loop would overlap it.
      restartPolicyType: "NEVER",
    },
    env: {
      // The web service's value, by reference: one secret, set once.
      SECRET_KEY: web.env.SECRET_KEY,
{%- if cookiecutter.database == "postgresql" %}
      DATABASE_URL: db.env.DATABASE_URL,
{%- endif %}
{%- if cookiecutter.background_jobs == "rq" %}
      // Every command of the start command checks the jobs' settings too.
      REDIS_URL: kv.env.REDIS_URL,
{%- endif %}
    },
    // No volume: tick's switch and claims (DATA_DIR) start empty on every run; keep
    // them in the database (docs/scheduled-jobs.md).
  });
{%- endif %}

  return project("{{ cookiecutter.project_slug }}", { resources: [{% if cookiecutter.database == "postgresql" %}db, {% endif %}{% if redis %}kv, {% endif %}web{% if cookiecutter.background_jobs == "rq" %}, worker{% endif %}{% if cookiecutter.scheduled_jobs %}, tick{% endif %}] });
});

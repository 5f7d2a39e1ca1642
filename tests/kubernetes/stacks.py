"""The stacks the cluster tests run: images built by scripts/local-k8s."""

from __future__ import annotations

import json

IMAGES = """
[kubernetes]
stage_image = "tempstack.local/python:3.11"

[kubernetes.images]
postgres = "tempstack.local/postgres:15"
redis = "tempstack.local/redis:7"
process = "tempstack.local/python:3.11"
job = "tempstack.local/python:3.11"
"""

#: a tiny app: reads the rows the migrate job wrote, counts visits in Redis
APP = r"""
import json, os, http.server
import psycopg, redis
r = redis.Redis.from_url(os.environ["REDIS_URL"])
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/health":
            body = b"ok"
        else:
            with psycopg.connect(os.environ["DATABASE_URL"]) as c:
                rows = [n for (n,) in c.execute("SELECT name FROM items ORDER BY id")]
            body = json.dumps({"items": rows, "visits": r.incr("visits")}).encode()
        print("GET", self.path, flush=True)
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
http.server.ThreadingHTTPServer(("0.0.0.0", int(os.environ["PORT"])), H).serve_forever()
"""

MIGRATE = (
    "import os, sys, psycopg\n"
    "# the password came as an argument: the kubelet expanded it from the Secret\n"
    "assert sys.argv[1] == os.environ['DATABASE_URL'].split(':')[2].split('@')[0], sys.argv\n"
    "with psycopg.connect(os.environ['DATABASE_URL']) as c:\n"
    "    c.execute('CREATE TABLE items (id serial PRIMARY KEY, name text)')\n"
    "    c.execute(\"INSERT INTO items (name) VALUES ('apple'), ('pear')\")\n"
    "print('migrated', flush=True)\n"
)

#: run from this machine (through port-forwards) and in the cluster (as a Job)
TEST_FILE = r"""
import json, os, urllib.request
import psycopg

def test_items_through_the_app():
    with urllib.request.urlopen(os.environ["WEB_URL"] + "/items", timeout=10) as resp:
        data = json.loads(resp.read())
    assert data["items"] == ["apple", "pear"]
    assert data["visits"] >= 1

def test_database_directly():
    with psycopg.connect(os.environ["DB_URL"]) as c:
        (n,) = c.execute("SELECT count(*) FROM items").fetchone()
    assert n == 2
    print("where:", os.environ["DB_HOST"])
"""


def demo_stack(name: str, stages: bool = True) -> str:
    text = f"""
[stack]
name = "{name}"
backend = "kubernetes"

[services.db]
kind = "postgres"

[services.cache]
kind = "redis"

[services.migrate]
kind = "job"
command = ["python3", "-c", {json.dumps(MIGRATE)}, "${{db.password}}"]
env = {{ DATABASE_URL = "${{db.url}}" }}
depends_on = ["db"]

[services.web]
command = ["python3", "-c", {json.dumps(APP)}]
ready = {{ http = "/health" }}
env = {{ DATABASE_URL = "${{db.url}}", REDIS_URL = "${{cache.url}}" }}
depends_on = ["migrate", "cache"]

{IMAGES}
[stages.outside]
kind = "pytest"
args = ["tests", "-q"]

[stages.inside]
kind = "pytest"
args = ["tests", "-q"]
where = "cluster"
"""
    return text if stages else text.split("[stages.outside]")[0]

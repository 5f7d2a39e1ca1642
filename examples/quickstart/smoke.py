"""The 'smoke' stage: talks to the running app through the exported URL."""

import json
import os
import urllib.request

url = os.environ["API_URL"] + "/products"
for expected_visit in (1, 2):
    with urllib.request.urlopen(url) as resp:
        body = json.load(resp)
    assert [p["name"] for p in body["products"]] == ["teapot", "kettle", "mug"], body
    assert body["visits"] == expected_visit, body
    assert body["greeting"] == "hello from tempstack", body
print(f"smoke: ok ({url})")

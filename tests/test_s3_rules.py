"""The s3 server's own rules: bucket names, anonymous access from policies, CORS matching."""

from __future__ import annotations

import json

import pytest

from tempstack.servers.s3 import cors, names
from tempstack.servers.s3.access import action_of, allows_anonymous, public_read_policy
from tempstack.servers.s3.errors import S3Error
from tempstack.servers.s3.target import target


@pytest.mark.parametrize(
    "name",
    ["abc", "my-bucket.2024", "a" * 63, "1-2-3", "x.y.z"],
)
def test_valid_bucket_names(name: str) -> None:
    assert names.problem(name) is None


@pytest.mark.parametrize(
    "name",
    [
        "ab",
        "a" * 64,
        "Upper",
        "under_score",
        "-lead",
        "trail-",
        "a..b",
        "a.-b",
        "192.168.1.1",
        "xn--punycode",
        "sthree-x",
        "amzn-s3-demo-bucket",
        "name-s3alias",
        "name--ol-s3",
        "name.mrap",
        "name--x-s3",
    ],
)
def test_invalid_bucket_names(name: str) -> None:
    assert names.problem(name) is not None


def test_public_read_policy_grants_object_reads_only() -> None:
    policy = public_read_policy("assets")
    assert allows_anonymous(policy, "s3:GetObject", "arn:aws:s3:::assets/a/b.png")
    assert not allows_anonymous(policy, "s3:GetObject", "arn:aws:s3:::other/a.png")
    assert not allows_anonymous(policy, "s3:PutObject", "arn:aws:s3:::assets/a.png")
    assert not allows_anonymous(policy, "s3:ListBucket", "arn:aws:s3:::assets")
    assert not allows_anonymous(None, "s3:GetObject", "arn:aws:s3:::assets/a.png")


def test_policy_statements_for_someone_else_or_with_conditions_grant_nothing() -> None:
    def policy(**statement: object) -> str:
        base = {"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::b/*"}
        return json.dumps({"Statement": [{**base, **statement}]})

    resource = "arn:aws:s3:::b/k"
    assert allows_anonymous(policy(Principal={"AWS": "*"}), "s3:PutObject", resource)
    assert allows_anonymous(policy(Principal="*", Action="S3:get*"), "s3:GetObject", resource)
    assert not allows_anonymous(
        policy(Principal={"AWS": "arn:aws:iam::111122223333:root"}), "s3:GetObject", resource
    )
    condition = {"Bool": {"aws:SecureTransport": "true"}}
    assert not allows_anonymous(
        policy(Principal="*", Condition=condition), "s3:GetObject", resource
    )
    deny = {"Effect": "Deny", "Principal": "*", "Action": "s3:GetObject", "Resource": resource}
    both = json.loads(public_read_policy("b"))
    both["Statement"].append(deny)
    assert not allows_anonymous(json.dumps(both), "s3:GetObject", resource)
    assert allows_anonymous(json.dumps(both), "s3:GetObject", "arn:aws:s3:::b/other")


def test_actions_of_anonymous_requests() -> None:
    def action(method: str, uri: str) -> tuple[str, str] | None:
        return action_of(target({"REQUEST_METHOD": method, "RAW_URI": uri}))

    assert action("GET", "/b/k%20ey") == ("s3:GetObject", "arn:aws:s3:::b/k ey")
    assert action("HEAD", "/b/k?versionId=3") == ("s3:GetObject", "arn:aws:s3:::b/k")
    assert action("PUT", "/b/k") == ("s3:PutObject", "arn:aws:s3:::b/k")
    assert action("GET", "/b?list-type=2&prefix=a") == ("s3:ListBucket", "arn:aws:s3:::b")
    assert action("GET", "/b/k?acl") is None
    assert action("GET", "/b?policy") is None
    assert action("GET", "/") is None


RULES = [
    cors.Rule(origins=("https://*.example.com",), methods=("GET",), headers=("x-amz-*",)),
    cors.Rule(origins=("*",), methods=("GET", "PUT"), expose=("ETag",), max_age="60"),
]


def test_cors_first_matching_rule_answers() -> None:
    headers = cors.preflight(RULES, "https://app.example.com", "GET", "X-Amz-Meta-A")
    assert headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert headers["Access-Control-Allow-Credentials"] == "true"
    assert headers["Access-Control-Allow-Headers"] == "x-amz-meta-a"
    assert "Access-Control-Max-Age" not in headers
    # the first rule refuses the header, the wildcard rule has no allowed headers either
    with pytest.raises(S3Error) as caught:
        cors.preflight(RULES, "https://app.example.com", "GET", "content-type")
    assert (caught.value.status, caught.value.code) == (403, "AccessForbidden")
    headers = cors.preflight(RULES, "http://other.test", "PUT", "")
    assert headers["Access-Control-Allow-Origin"] == "*"
    assert headers["Access-Control-Max-Age"] == "60"
    with pytest.raises(S3Error, match="not enabled"):
        cors.preflight([], "http://other.test", "PUT", "")
    with pytest.raises(S3Error, match="AccessForbidden"):
        cors.preflight(RULES, "http://other.test", "DELETE", "")


def test_cors_on_actual_requests() -> None:
    assert cors.actual(RULES, "http://other.test", "PUT")["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Origin" not in cors.actual(RULES, "http://x.test", "DELETE")
    assert cors.actual([], "http://x.test", "GET") == {}


def test_spec_cors_in_moto_shape() -> None:
    assert cors.spec_rules(False) == []
    (rule,) = cors.spec_rules(True)
    assert rule["AllowedOrigin"] == ["*"] and rule["MaxAgeSeconds"] == "3000"
    (rule,) = cors.spec_rules([{"allowed_origins": ["http://a.test"], "max_age": None}])
    assert rule["AllowedOrigin"] == ["http://a.test"] and "MaxAgeSeconds" not in rule

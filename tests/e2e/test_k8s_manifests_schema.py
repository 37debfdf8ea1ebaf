"""Issue 16 (first part): every Kubernetes object kecs's mapping produces, as pinned by the
golden files of tests/unit/runtime/k8s_manifests_test.cc, is valid against the Kubernetes
OpenAPI schema (npm's kubernetes-models, pinned in tests/k8s/package-lock.json), with
unknown fields refused (tests/k8s/validate.mjs)."""
import glob
import json
import os
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
VALIDATE = os.path.join(HERE, "..", "k8s", "validate.mjs")
GOLDENS = sorted(glob.glob(os.path.join(HERE, "..", "unit", "testdata", "k8s", "*.json")))


def validate(*args, stdin=None):
    return subprocess.run(["node", VALIDATE, *args], input=stdin, capture_output=True, text=True, timeout=60)


def test_every_golden_manifest_is_valid_against_the_openapi_schema():
    assert len(GOLDENS) >= 9, GOLDENS
    p = validate(*GOLDENS)
    assert p.returncode == 0, p.stdout + p.stderr


def test_the_validator_refuses_unknown_fields_and_wrong_types():
    with open(os.path.join(HERE, "..", "unit", "testdata", "k8s", "pod-awsvpc.json")) as f:
        pod = json.load(f)
    pod["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
    pod["spec"]["containers"][0]["ports"][0]["containerPort"] = "80"
    p = validate("-", stdin=json.dumps(pod))
    assert p.returncode == 1
    assert "unknown field spec.containers[0].imagePullPolicyy" in p.stdout
    assert "containerPort must be integer" in p.stdout
    with open(os.path.join(HERE, "..", "unit", "testdata", "k8s", "networkpolicy-sg.json")) as f:
        np = json.load(f)
    np["spec"]["ingress"][0]["from"][0]["podSelector"]["matchLabelz"] = {}
    p = validate("-", stdin=json.dumps(np))
    assert p.returncode == 1 and "unknown field spec.ingress[0].from[0].podSelector.matchLabelz" in p.stdout

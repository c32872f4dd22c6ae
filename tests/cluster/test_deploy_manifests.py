"""deploy/k8s: the Kubernetes manifests parse, hang together and match the code.

There is no kubectl here, so this checks what a dry run would and a little more: every
document loads (yaml.safe_load_all) with apiVersion, kind and name; selectors match pod labels;
Services, Ingresses, autoscalers and disruption budgets point at things that exist; every
container has an image, requests and readiness/liveness probes on the health routes the code
really serves (the ones stack/assistant.py waits for); secrets come only from the Secret, whose
template holds placeholders only."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml

from stack.assistant import Ports, StackConfig, build_services

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
NAMESPACE = "minsheng"
SECRET_WORDS = re.compile(r"PASSWORD|SECRET|TOKEN|AES_KEY|CREDENTIAL", re.IGNORECASE)


def documents() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path in sorted(K8S.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if doc is not None:
                found.append((path.name, doc))
    return found


def of_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for _, d in documents() if d["kind"] == kind}


def containers(deployment: dict[str, Any]) -> list[dict[str, Any]]:
    return deployment["spec"]["template"]["spec"]["containers"]


def health_paths() -> dict[str, str]:
    """The health route of each process, as the local stack checks it."""
    config = StackConfig(rasa_bin="rasa", actions_python="python", model="m",
                         ports=Ports(rasa=5005, actions=5055, backends=5080))
    paths = {s.name: urlparse(s.health_url).path for s in build_services(config)}
    return {"rasa": paths["Rasa server"], "actions": paths["action server"],
            "backends-sandbox": paths["sandbox backends"]}


def test_every_document_has_the_required_keys():
    docs = documents()
    assert {name for name, _ in docs} >= {"rasa.yaml", "actions.yaml", "backends-sandbox.yaml",
                                          "configmap.yaml", "secret.template.yaml"}
    for name, doc in docs:
        assert isinstance(doc, dict), name
        if doc.get("kind") == "Kustomization":  # kustomize's own file, not an object
            continue
        for key in ("apiVersion", "kind", "metadata"):
            assert key in doc, (name, key)
        assert doc["metadata"].get("name"), name
        if doc["kind"] != "Namespace":
            assert doc["metadata"].get("namespace") == NAMESPACE, (name, doc["kind"])


def test_the_three_deployments_and_their_services():
    deployments, services = of_kind("Deployment"), of_kind("Service")
    assert set(deployments) == {"rasa", "actions", "backends-sandbox"}
    paths = health_paths()
    for name, deployment in deployments.items():
        spec = deployment["spec"]
        selector = spec["selector"]["matchLabels"]
        labels = spec["template"]["metadata"]["labels"]
        assert selector.items() <= labels.items(), name
        for container in containers(deployment):
            assert container["image"], name
            ports = {p["name"]: p["containerPort"] for p in container["ports"]}
            requests = container["resources"]["requests"]
            assert requests.get("cpu") and requests.get("memory"), name
            assert container["resources"]["limits"].get("memory"), name
            for probe in ("readinessProbe", "livenessProbe"):
                check = container[probe]["httpGet"]
                assert check["path"] == paths[name], (name, probe, check["path"])
                assert check["port"] in ports, (name, probe)
            if "startupProbe" in container:
                assert container["startupProbe"]["httpGet"]["path"] == paths[name]
        service = services[name]
        assert service["spec"]["selector"].items() <= labels.items(), name
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in {p["name"] for c in containers(deployment)
                                          for p in c["ports"]}, name
    assert deployments["rasa"]["spec"]["replicas"] >= 2
    assert deployments["actions"]["spec"]["replicas"] >= 2
    assert deployments["backends-sandbox"]["spec"]["replicas"] == 1  # SQLite: one writer
    assert deployments["backends-sandbox"]["spec"]["strategy"]["type"] == "Recreate"


def test_the_ports_and_urls_agree():
    deployments = of_kind("Deployment")
    config = of_kind("ConfigMap")["minsheng-config"]["data"]
    port_of = {name: containers(d)[0]["ports"][0]["containerPort"]
               for name, d in deployments.items()}
    assert urlparse(config["ACTION_SERVER_URL"]).port == port_of["actions"]
    assert urlparse(config["ACTION_SERVER_URL"]).hostname.startswith("actions.")
    assert urlparse(config["BACKENDS_URL"]).port == port_of["backends-sandbox"]
    assert urlparse(config["BACKENDS_URL"]).hostname.startswith("backends-sandbox.")
    assert config["REDIS_HOST"].startswith("redis-primary.")
    assert "redis-primary" in of_kind("Service")
    rasa_args = containers(deployments["rasa"])[0]["args"]
    assert rasa_args[rasa_args.index("--port") + 1] == str(port_of["rasa"])
    assert rasa_args[rasa_args.index("--interface") + 1] == "0.0.0.0"
    for flag, repo_file in (("--endpoints", "bot/endpoints.yml"),
                            ("--credentials", "bot/credentials.yml")):
        path = rasa_args[rasa_args.index(flag) + 1]
        assert path == f"/app/{repo_file}" and (ROOT / repo_file).is_file()
    actions_args = containers(deployments["actions"])[0]["args"]
    assert actions_args[actions_args.index("--port") + 1] == str(port_of["actions"])


def test_every_variable_rasa_reads_is_provided():
    endpoints = (ROOT / "bot" / "endpoints.yml").read_text(encoding="utf-8")
    needed = set(re.findall(r"\$\{(\w+)\}", endpoints))
    config = of_kind("ConfigMap")["minsheng-config"]["data"]
    rasa = containers(of_kind("Deployment")["rasa"])[0]
    provided = set(config) | {e["name"] for e in rasa["env"]}
    assert needed <= provided, needed - provided
    assert "REDIS_URL" in provided  # the channels' Redis


def test_secrets_only_from_the_secret_and_the_template_holds_placeholders():
    config = of_kind("ConfigMap")["minsheng-config"]["data"]
    assert not [k for k in config if SECRET_WORDS.search(k)]
    template = of_kind("Secret")["minsheng-secrets"]
    values = template["stringData"]
    assert values and all(v == "REPLACE_ME" for v in values.values()), values
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text(encoding="utf-8"))
    assert "secret.template.yaml" not in kustomization["resources"]
    assert set(kustomization["resources"]) <= {p.name for p in K8S.glob("*.yaml")}
    for deployment in of_kind("Deployment").values():
        for container in containers(deployment):
            for env in container.get("env", []):
                if SECRET_WORDS.search(env["name"]) and "value" in env:
                    assert "$(" in env["value"], env  # composed from secret refs only
                ref = env.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    assert ref["name"] == "minsheng-secrets" and ref["key"] in values, ref
            for source in container.get("envFrom", []):
                assert source["configMapRef"]["name"] in of_kind("ConfigMap")


def test_ingress_autoscalers_and_budgets_point_at_what_exists():
    services, deployments = of_kind("Service"), of_kind("Deployment")
    for ingress in of_kind("Ingress").values():
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                backend = path["backend"]["service"]
                assert backend["name"] in services
    sticky = [i for i in of_kind("Ingress").values()
              if i["metadata"]["annotations"].get("nginx.ingress.kubernetes.io/affinity")]
    assert any(p["path"].endswith("socket.io") for i in sticky
               for r in i["spec"]["rules"] for p in r["http"]["paths"])
    for hpa in of_kind("HorizontalPodAutoscaler").values():
        assert hpa["spec"]["scaleTargetRef"]["name"] in deployments
        assert hpa["spec"]["minReplicas"] >= 2
    for budget in of_kind("PodDisruptionBudget").values():
        labels = budget["spec"]["selector"]["matchLabels"]
        assert any(labels.items() <= d["spec"]["template"]["metadata"]["labels"].items()
                   for d in deployments.values())


def test_the_readme_covers_redis_ha_and_the_artefacts():
    readme = (ROOT / "deploy" / "README.md").read_text(encoding="utf-8")
    for topic in ("Sentinel", "managed Redis", "model", "knowledge index", "scripts/cluster",
                  "kubectl apply -k deploy/k8s"):
        assert topic in readme, topic

"""Checks rendered Kubernetes manifests for the settings Trellis requires of a deployment."""

import sys

import yaml

SERVICES = ["gateway", "auth", "apps", "exec"]


def fail(message):
    print(f"missing setting: {message}", file=sys.stderr)
    sys.exit(1)


def check_container(where, container, probes=True):
    security = container.get("securityContext", {})
    if security.get("allowPrivilegeEscalation") is not False:
        fail(f"{where}: allowPrivilegeEscalation must be false")
    if security.get("readOnlyRootFilesystem") is not True:
        fail(f"{where}: readOnlyRootFilesystem must be true")
    if "ALL" not in security.get("capabilities", {}).get("drop", []):
        fail(f"{where}: capabilities must drop ALL")
    resources = container.get("resources", {})
    if not resources.get("requests") or not resources.get("limits"):
        fail(f"{where}: resource requests and limits are required")
    if probes:
        if container.get("readinessProbe", {}).get("httpGet", {}).get("path") != "/readyz":
            fail(f"{where}: readiness probe must call /readyz")
        if container.get("livenessProbe", {}).get("httpGet", {}).get("path") != "/healthz":
            fail(f"{where}: liveness probe must call /healthz")


def check_pod(where, spec):
    security = spec.get("securityContext", {})
    if security.get("runAsNonRoot") is not True:
        fail(f"{where}: runAsNonRoot must be true")


def main(path):
    with open(path, encoding="utf-8") as handle:
        documents = [d for d in yaml.safe_load_all(handle) if d]
    by_kind = {}
    for document in documents:
        by_kind.setdefault(document["kind"], {})[document["metadata"]["name"]] = document

    for service in SERVICES:
        name = f"trellis-{service}"
        deployment = by_kind.get("Deployment", {}).get(name) or fail(f"Deployment {name}")
        if name not in by_kind.get("Service", {}):
            fail(f"Service {name}")
        if name not in by_kind.get("PodDisruptionBudget", {}):
            fail(f"PodDisruptionBudget {name}")
        pod = deployment["spec"]["template"]["spec"]
        check_pod(name, pod)
        for container in pod["containers"]:
            check_container(f"{name}/{container['name']}", container)

    for name in ["trellis-gateway", "trellis-exec"]:
        if name not in by_kind.get("HorizontalPodAutoscaler", {}):
            fail(f"HorizontalPodAutoscaler {name}")

    ingress = next(iter(by_kind.get("Ingress", {}).values()), None) or fail("an Ingress")
    backends = {
        path["backend"]["service"]["name"]
        for rule in ingress["spec"]["rules"]
        for path in rule["http"]["paths"]
    }
    if backends != {"trellis-gateway"}:
        fail(f"the Ingress must reach only the gateway, found {sorted(backends)}")

    policies = by_kind.get("NetworkPolicy", {})
    if "trellis-default-deny" not in policies:
        fail("NetworkPolicy trellis-default-deny")
    internet = [
        name
        for name, policy in policies.items()
        for rule in policy["spec"].get("egress", [])
        for peer in rule.get("to", [])
        if peer.get("ipBlock", {}).get("cidr") == "0.0.0.0/0"
    ]
    if internet != ["trellis-exec"]:
        fail(f"only exec may reach the internet, found {internet}")

    job = by_kind.get("Job", {}).get("trellis-migrate") or fail("Job trellis-migrate")
    job_pod = job["spec"]["template"]["spec"]
    check_pod("trellis-migrate", job_pod)
    for container in job_pod["containers"]:
        check_container(f"trellis-migrate/{container['name']}", container, probes=False)
        if container.get("args") != ["migrate"]:
            fail("the migration Job must run `trellis migrate`")

    if "ConfigMap" not in by_kind:
        fail("a ConfigMap")
    print(f"{path}: {len(documents)} objects, all required settings present")


if __name__ == "__main__":
    main(sys.argv[1])

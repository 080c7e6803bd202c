#!/usr/bin/env python3
"""Checks that deploy/ manifests parse and reference each other consistently:
Kubernetes objects (names, ports, secrets, volumes, config keys), the Grafana
dashboard (uid, datasource variable, only lorad_ metrics) and the daemon config."""
import json
import re
import sys
from pathlib import Path

import yaml

deploy = Path(sys.argv[1])
errors = []


def check(cond, msg):
    if not cond:
        errors.append(msg)


objs = []
for f in sorted((deploy / "k8s").glob("*.yaml")):
    for doc in yaml.safe_load_all(f.read_text()):
        if doc:
            doc["_file"] = f.name
            objs.append(doc)
by_kind = {}
for o in objs:
    name = o.get("metadata", {}).get("name", o["_file"])
    by_kind.setdefault(o["kind"], {})[name] = o

kust = by_kind.get("Kustomization", {})
for k in kust.values():
    for r in k["resources"]:
        check((deploy / "k8s" / r).exists(), f"kustomization lists missing {r}")

secrets = set(by_kind.get("Secret", {}))
pvcs = set(by_kind.get("PersistentVolumeClaim", {}))
cms = by_kind.get("ConfigMap", {})
ns = set(by_kind.get("Namespace", {}))

for kind in ("Deployment", "StatefulSet"):
    for name, o in by_kind.get(kind, {}).items():
        check(o["metadata"].get("namespace") in ns, f"{kind}/{name}: namespace not defined")
        spec = o["spec"]
        tmpl = spec["template"]
        sel = spec["selector"]["matchLabels"]
        labels = tmpl["metadata"]["labels"]
        check(all(labels.get(k) == v for k, v in sel.items()), f"{kind}/{name}: selector does not match pod labels")
        vols = {v["name"]: v for v in tmpl["spec"].get("volumes", [])}
        for v in vols.values():
            if "secret" in v:
                check(v["secret"]["secretName"] in secrets, f"{kind}/{name}: unknown secret {v['secret']['secretName']}")
            if "persistentVolumeClaim" in v:
                check(v["persistentVolumeClaim"]["claimName"] in pvcs, f"{kind}/{name}: unknown PVC")
            if "configMap" in v:
                check(v["configMap"]["name"] in cms, f"{kind}/{name}: unknown ConfigMap")
        for c in tmpl["spec"]["containers"]:
            for m in c.get("volumeMounts", []):
                check(m["name"] in vols, f"{kind}/{name}: mount of undefined volume {m['name']}")
        if kind == "Deployment":
            check(spec.get("replicas") == 1, "scheduler must have exactly 1 replica (SQLite)")
            check(spec.get("strategy", {}).get("type") == "Recreate", "scheduler must use strategy Recreate")
            state = [v for v in vols.values() if "persistentVolumeClaim" in v and v["name"] == "state"]
            check(state, "scheduler state must be on a PVC")
            for s in state:
                pvc = by_kind["PersistentVolumeClaim"][s["persistentVolumeClaim"]["claimName"]]
                check(pvc["spec"]["accessModes"] == ["ReadWriteOnce"], "scheduler state PVC must be ReadWriteOnce")
            ann = tmpl["metadata"].get("annotations", {})
            ports = {p["name"]: p["containerPort"] for c in tmpl["spec"]["containers"] for p in c.get("ports", [])}
            check(str(ports.get("metrics")) == ann.get("prometheus.io/port"), "scrape annotation port != metrics port")
            cfg = yaml.safe_load(cms["lorad-config"]["data"]["lorad.yaml"])
            check(cfg["metrics_address"].endswith(":" + str(ports["metrics"])), "metrics_address port != container port")
            check(any(l.endswith(":" + str(ports["grpc"])) for l in cfg["listen"]), "listen port != grpc port")
            # Config keys must be keys the daemon knows (deploy/lorad.yaml documents all).
            known = yaml.safe_load((deploy / "lorad.yaml").read_text())
            for key in cfg:
                check(key in known, f"ConfigMap lorad.yaml: unknown daemon key {key}")
            for key in ("cert_file", "key_file"):
                path = cfg["tls"][key]
                check(any(path.startswith(m["mountPath"]) for c in tmpl["spec"]["containers"] for m in c["volumeMounts"]),
                      f"tls.{key} {path} is not under a mounted volume")
        if kind == "StatefulSet":
            c = tmpl["spec"]["containers"][0]
            check("nvidia.com/gpu" in c["resources"]["limits"], "workers must request nvidia.com/gpu")
            args = c["args"]
            check(args[0] == "serve" and "--scheduler" in args, "worker must run `serve --scheduler ADDR`")
            for flag in ("--tls-ca", "--worker-token-file"):
                check(flag in args, f"worker must pass {flag} (remote workers use TLS and the worker token)")
                if flag in args:
                    path = args[args.index(flag) + 1]
                    check(any(path.startswith(m["mountPath"]) for m in c["volumeMounts"]),
                          f"{flag} {path} is not under a mounted volume")
            sched = [args[args.index("--scheduler") + 1]] if "--scheduler" in args else []
            if sched:
                host, port = sched[0].rsplit(":", 1)
                svc_name = host.split(".")[0]
                svc = by_kind["Service"].get(svc_name)
                check(svc is not None, f"worker dials unknown service {svc_name}")
                if svc:
                    check(any(str(p["port"]) == port for p in svc["spec"]["ports"]), "worker dials a port the Service lacks")

for name, svc in by_kind.get("Service", {}).items():
    sel = svc["spec"]["selector"]
    matched = [o for k in ("Deployment",) for o in by_kind.get(k, {}).values()
               if all(o["spec"]["template"]["metadata"]["labels"].get(a) == b for a, b in sel.items())]
    check(matched, f"Service/{name} selects no pods")
    for p in svc["spec"]["ports"]:
        tp = p["targetPort"]
        ports = {pp["name"] for o in matched for c in o["spec"]["template"]["spec"]["containers"] for pp in c["ports"]}
        check(tp in ports, f"Service/{name}: targetPort {tp} not a named container port")

dash = json.loads((deploy / "grafana" / "dashboards" / "lorad.json").read_text())
check(dash.get("uid") == "lorad-overview" and dash.get("id") is None, "dashboard needs a stable uid and id null")
tvars = {v["name"]: v for v in dash["templating"]["list"]}
check(tvars.get("DS_PROMETHEUS", {}).get("type") == "datasource", "DS_PROMETHEUS must be a datasource variable")
check("job_id" in tvars, "dashboard needs a job_id variable")
for p in dash["panels"]:
    for t in p["targets"]:
        for m in re.findall(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\s*[{(\[]", t["expr"]):
            if m.startswith("lorad_"):
                continue
            check(m in {"sum", "rate", "increase", "histogram_quantile", "by", "avg", "max", "min"},
                  f"panel {p['title']}: unexpected function or metric {m}")

if errors:
    print("\n".join(errors))
    sys.exit(1)
print(f"manifests consistent: {len(objs)} k8s objects, {len(dash['panels'])} dashboard panels")

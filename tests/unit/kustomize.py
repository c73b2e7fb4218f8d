"""Renders a kustomization the way `kubectl kustomize` does, for the subset of kustomize that
deploy/k8s uses, so that the manifests can be checked without a kustomize binary.

Supported: `resources` (files, and folders holding a kustomization), `namespace`, `labels`
(`pairs`, metadata only), `images`, `replicas`, `secretGenerator` (`envs`, with
`disableNameSuffixHash`) and `patches` given inline as JSON 6902 operations with a kind/name
target. Any other field raises: a manifest using more of kustomize needs this renderer to learn
it first (`kubectl kustomize deploy/k8s/overlays/production` renders the same objects).
"""

from __future__ import annotations

import base64
import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

Manifest = dict[str, Any]

_SUPPORTED = frozenset(
    {
        "apiVersion",
        "kind",
        "resources",
        "namespace",
        "labels",
        "images",
        "replicas",
        "secretGenerator",
        "patches",
    }
)
_CLUSTER_SCOPED = frozenset({"Namespace", "ClusterRole", "ClusterRoleBinding"})


def render(folder: Path, *, env_files: Mapping[str, Path] | None = None) -> list[Manifest]:
    """Every object the kustomization in `folder` produces. `env_files` stands in for env files
    of secret generators that are not committed (name in the kustomization → file to read)."""
    spec = yaml.safe_load((folder / "kustomization.yaml").read_text())
    unknown = set(spec) - _SUPPORTED
    if unknown:
        raise ValueError(f"{folder}: kustomize fields this renderer does not know: {unknown}")
    objects: list[Manifest] = []
    for resource in spec.get("resources", []):
        path = (folder / resource).resolve()
        if path.is_dir():
            objects += render(path, env_files=env_files)
        else:
            objects += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    for generator in spec.get("secretGenerator", []):
        objects.append(_secret(folder, generator, env_files or {}))
    for entry in spec.get("labels", []):
        if entry.get("includeSelectors") or entry.get("includeTemplates"):
            raise ValueError("labels on selectors or templates are not supported")
        for obj in objects:
            obj["metadata"].setdefault("labels", {}).update(entry["pairs"])
    for image in spec.get("images", []):
        for container in _containers(objects):
            if container["image"].split(":")[0] == image["name"]:
                name = image.get("newName", image["name"])
                container["image"] = f"{name}:{image['newTag']}" if "newTag" in image else name
    for replicas in spec.get("replicas", []):
        [target] = [
            o
            for o in objects
            if o["kind"] in {"Deployment", "StatefulSet"}
            and o["metadata"]["name"] == replicas["name"]
        ]
        target["spec"]["replicas"] = replicas["count"]
    for patch in spec.get("patches", []):
        target = patch["target"]
        matches = [
            o
            for o in objects
            if o["kind"] == target["kind"] and o["metadata"]["name"] == target["name"]
        ]
        if len(matches) != 1:
            raise ValueError(f"patch target {target} matches {len(matches)} objects")
        for operation in yaml.safe_load(patch["patch"]):
            _apply(matches[0], operation)
    if "namespace" in spec:
        for obj in objects:
            if obj["kind"] not in _CLUSTER_SCOPED:
                obj["metadata"]["namespace"] = spec["namespace"]
    return objects


def _secret(folder: Path, generator: dict[str, Any], env_files: Mapping[str, Path]) -> Manifest:
    if not generator.get("options", {}).get("disableNameSuffixHash"):
        raise ValueError("secret generators need disableNameSuffixHash (names stay as written)")
    data: dict[str, str] = {}
    for name in generator["envs"]:
        path = env_files.get(name, folder / name)
        for line in path.read_text().splitlines():
            if line.strip() and not line.startswith("#"):
                key, _, value = line.partition("=")
                data[key] = base64.b64encode(value.encode()).decode()
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": generator["name"]},
        "type": "Opaque",
        "data": data,
    }


def _containers(objects: list[Manifest]) -> list[dict[str, Any]]:
    found = []
    for obj in objects:
        pod = pod_spec(obj)
        if pod is not None:
            found += pod.get("initContainers", []) + pod["containers"]
    return found


def pod_spec(obj: Manifest) -> dict[str, Any] | None:
    """The pod template's spec of a workload (Deployment, Job, CronJob), else None."""
    spec = obj.get("spec", {})
    if obj["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    template = spec.get("template") if obj["kind"] in {"Deployment", "Job", "CronJob"} else None
    return None if template is None else dict(template["spec"])


def _apply(obj: Manifest, operation: dict[str, Any]) -> None:
    """One JSON 6902 operation (add, replace, remove) on `obj`."""
    *parents, last = [
        part.replace("~1", "/").replace("~0", "~") for part in operation["path"].split("/")[1:]
    ]
    node: Any = obj
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    key: Any = int(last) if isinstance(node, list) and last != "-" else last
    op = operation["op"]
    if op == "remove":
        del node[key]
    elif op == "replace":
        _ = node[key]  # replace needs an existing value: KeyError/IndexError otherwise
        node[key] = copy.deepcopy(operation["value"])
    elif op == "add":
        if isinstance(node, list):
            node.insert(len(node) if key == "-" else key, copy.deepcopy(operation["value"]))
        else:
            node[key] = copy.deepcopy(operation["value"])
    else:
        raise ValueError(f"JSON patch operation {op} is not supported")

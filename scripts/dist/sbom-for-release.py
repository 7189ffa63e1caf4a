#!/usr/bin/env python3
"""Cuts cargo-sbom's CycloneDX document (stdin) down to what a release ships; prints it.

    cargo sbom --output-format cyclone_dx_json_1_5 \
      | sbom-for-release.py METADATA.json SOURCE_DATE_EPOCH PACKAGE...

cargo-sbom describes the whole workspace, test helpers included, with every platform's
dependencies, and stamps the document with the time, a random serial number and the name of
whoever ran it. A release's SBOM should list exactly the crates compiled into the binaries
it ships, and be the same document for the same commit. So:

* METADATA.json is `cargo metadata --filter-platform TRIPLE` (with dependencies): the
  crates kept are those the shipped PACKAGEs reach through normal dependencies on that
  platform (dev-dependencies are tests'; build-dependencies run at build time only, and
  cargo-sbom leaves both out too);
* the document's component is the release (secretsd-vault and its version), the workspace
  members it lists are the shipped PACKAGEs;
* the time is SOURCE_DATE_EPOCH's, the serial number is derived from the content, the
  author is the project, and every list is sorted.
"""

import datetime
import hashlib
import json
import sys
import uuid


def shipped_crates(metadata, packages):
    """(name, version) of every crate the named workspace packages compile in."""
    by_id = {p["id"]: p for p in metadata["packages"]}
    nodes = {n["id"]: n for n in metadata["resolve"]["nodes"]}
    members = set(metadata["workspace_members"])
    roots = [i for i in members if by_id[i]["name"] in packages]
    missing = set(packages) - {by_id[i]["name"] for i in roots}
    if missing:
        sys.exit(f"sbom-for-release.py: not workspace members: {', '.join(sorted(missing))}")
    seen, todo = set(), list(roots)
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        for dep in nodes[current]["deps"]:
            if any(kind["kind"] is None for kind in dep["dep_kinds"]):
                todo.append(dep["pkg"])
    return {(by_id[i]["name"], by_id[i]["version"]) for i in seen}


def main():
    metadata_path, epoch, *packages = sys.argv[1:]
    with open(metadata_path) as file:
        metadata = json.load(file)
    bom = json.load(sys.stdin)
    keep = shipped_crates(metadata, set(packages))
    ref = {f"CycloneDxRef-Component-{name}-{version}" for name, version in keep}

    bom["components"] = sorted(
        (c for c in bom["components"] if (c["name"], c.get("version")) in keep),
        key=lambda c: (c["name"], c.get("version", "")),
    )
    dependencies = []
    for dependency in bom.get("dependencies", []):
        if dependency["ref"] in ref:
            depends_on = sorted(d for d in dependency.get("dependsOn", []) if d in ref)
            dependencies.append({"ref": dependency["ref"], "dependsOn": depends_on})
    bom["dependencies"] = sorted(dependencies, key=lambda d: d["ref"])

    release = next(
        p for p in metadata["packages"]
        if p["name"] == "secretsd-vault" and p["id"] in metadata["workspace_members"]
    )
    component = bom["metadata"]["component"]
    component["name"] = "secretsd-vault"
    component["version"] = release["version"]
    component["bom-ref"] = f"CycloneDxRef-Release-secretsd-vault-{release['version']}"
    component["components"] = sorted(
        (c for c in component.get("components", []) if c["name"] in packages),
        key=lambda c: c["name"],
    )
    found = {c["name"] for c in component["components"]}
    if found != set(packages):
        sys.exit(f"sbom-for-release.py: cargo-sbom did not list {sorted(set(packages) - found)}")
    bom["metadata"]["authors"] = [{"name": "The secretsd-vault authors"}]
    bom["metadata"]["timestamp"] = (
        datetime.datetime.fromtimestamp(int(epoch), datetime.timezone.utc)
        .strftime("%Y-%m-%dT%H:%M:%SZ")
    )
    bom.pop("serialNumber", None)
    content = json.dumps(bom, sort_keys=True).encode()
    bom["serialNumber"] = f"urn:uuid:{uuid.UUID(bytes=hashlib.sha256(content).digest()[:16], version=5)}"
    json.dump(bom, sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()

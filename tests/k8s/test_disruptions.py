"""The API's pods going away under continuous catalog reads through NGINX: a `kubectl
delete pod`, and a `helm upgrade` that changes the API's image. Neither may fail a read:
the pod leaves the Service's endpoints during its preStop pause, before it stops, NGINX
resends a read whose kept-alive connection the stopping pod closed, and a new pod takes
reads only once it is ready (maxUnavailable 0). Afterwards the new pods answer through
NGINX. Run after everything else: they replace the API's pods and upgrade the release."""

import json
import os
import subprocess
import time


def test_deleting_an_api_pod_fails_no_read(release, catalog_reads):
    before = set(release.pods("api"))
    with catalog_reads as reads:
        # One that is taking reads now: NGINX's kept-alive connections may all lead to
        # one pod for a while.
        victim = max(sorted(before), key=lambda pod: reads.served_by[pod])
        release.kubectl("delete", "pod", victim, "--wait=true", timeout=120)
        release.rollout_done("api")
    after = set(release.pods("api"))
    print(f"deleted {victim}; {reads.summary()}")
    assert not reads.failed, f"{reads.summary()}: {reads.failed[:10]}"
    replacements = after - before
    assert victim not in after and len(replacements) == 1, after
    assert reads.served_by[victim], f"{victim} took no reads: {reads.summary()}"
    served = release.answering_api_pods(after)
    print(f"afterwards, uncached reads answered by {dict(served)}")
    assert set(served) == after, dict(served)


def ready_api_endpoints(watch_output):
    """The ready endpoints of the API Service at each change, from `kubectl get
    endpointslices --watch -o json` (one JSON object after another)."""
    decoder, text, counts = json.JSONDecoder(), watch_output, []
    while text.strip():
        text = text.lstrip()
        change, end = decoder.raw_decode(text)
        text = text[end:]
        for slice_ in change.get("items", [change]):
            endpoints = slice_.get("endpoints") or []
            counts.append(sum(1 for e in endpoints if e["conditions"].get("ready")))
    return counts


def test_an_upgrade_of_the_api_image_fails_no_read(release, catalog_reads, tmp_path):
    """The same image under another tag: a new pod template, so a rolling update of both
    pods, with the pre-upgrade migrations and the post-upgrade topic hooks around it."""
    deployment = release.get("deployment", f"{release.name}-api")
    image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    second_tag = os.environ["K8S_API_SECOND_TAG"]
    # Back and forth: a kept release may already run the second tag.
    tag = "" if image.endswith(f":{second_tag}") else second_tag
    before = set(release.pods("api"))
    watch_file = tmp_path / "endpointslices.json"
    with watch_file.open("w") as out:
        watch = subprocess.Popen(
            [
                str(release.cluster),
                "kubectl",
                "-n",
                release.namespace,
                "get",
                "endpointslices",
                "-l",
                f"kubernetes.io/service-name={release.name}-api",
                "--watch",
                "-o",
                "json",
            ],
            stdout=out,
            stderr=subprocess.DEVNULL,
        )
        try:
            with catalog_reads as reads:
                started = time.monotonic()
                release.run(
                    "helm",
                    "upgrade",
                    release.name,
                    str(release.chart),
                    "-n",
                    release.namespace,
                    *release.values_args(),
                    "--set",
                    f"images.api.tag={tag}",
                    "--wait",
                    "--timeout",
                    "5m",
                    timeout=400,
                )
                took = time.monotonic() - started
        finally:
            watch.terminate()
            watch.wait(timeout=10)
    ready = ready_api_endpoints(watch_file.read_text())
    after = release.pods("api")
    images = {p["spec"]["containers"][0]["image"] for p in after.values()}
    print(
        f"helm upgrade to {images} in {took:.0f} s; {reads.summary()}; "
        f"ready API endpoints at each change: {ready}"
    )
    assert not reads.failed, f"{reads.summary()}: {reads.failed[:10]}"
    assert not before & set(after), f"pods not replaced: {before & set(after)}"
    (new_image,) = images
    assert new_image != image and new_image.endswith(f":{tag}" if tag else ""), images
    assert min(ready) >= 2, f"the API had fewer than 2 ready endpoints during the rollout: {ready}"
    served = release.answering_api_pods(after)
    print(f"afterwards, uncached reads answered by {dict(served)}")
    assert set(served) == set(after), dict(served)

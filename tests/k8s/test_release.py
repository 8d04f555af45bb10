"""The installed release as it runs: every pod Ready, the install Jobs done before the
services they prepare became Ready, both replicas of the API and of the DB service taking
calls, this run's records in Kafka read by the broker's own console consumer, and what
the API's autoscaler sees."""

import json
import re
import uuid

import pytest
import requests

INSTALL_JOBS = {"db-migrate": ["dbsvc", "api"], "kafka-topic": ["logsvc", "api"]}


def ready_since(pod):
    conditions = {c["type"]: c for c in pod["status"].get("conditions", [])}
    ready = conditions.get("Ready", {})
    return ready.get("lastTransitionTime") if ready.get("status") == "True" else None


def topic_created_at(release):
    """When the broker created the store's topic, from its own log, to the second: the
    moment the topic Job's work took effect. The Job's completionTime follows it by
    seconds (kafka-topics' JVM exits, then the Job controller notices), while logsvc
    turns Ready as soon as the topic has a leader, rightly."""
    topic = release.topic()
    log = release.kubectl("logs", f"{release.name}-kafka-0").stdout
    created = re.search(
        rf"^\[(\d{{4}}-\d\d-\d\d) (\d\d:\d\d:\d\d),\d+\] INFO Creating topic {re.escape(topic)} ",
        log,
        re.MULTILINE,
    )
    assert created, f"the broker's log does not say it created {topic} (kubectl logs kafka-0)"
    return f"{created[1]}T{created[2]}Z"


def test_every_pod_is_ready(release):
    print("\n" + release.kubectl("get", "pods", "-o", "wide").stdout)
    servers = [
        p
        for p in release.get("pods")["items"]
        if p["metadata"].get("ownerReferences", [{}])[0].get("kind") != "Job"
    ]
    assert servers, "no pods in the namespace: deploy/k8s/cluster/store up"
    not_ready = [p["metadata"]["name"] for p in servers if not ready_since(p)]
    assert not not_ready, f"pods not Ready: {not_ready} (kubectl describe pod says why)"


def test_the_install_jobs_completed_before_the_services_they_prepare_became_ready(release):
    """dbsvc can log in only once the migrations made its role, logsvc is healthy only
    once the topic has a leader, the API starts only once both answer: each became Ready
    after its Job's work was done (to the second): the migrations' Job completed, the
    topic Job's topic created in the broker."""
    revision = json.loads(
        release.run("helm", "status", release.name, "-n", release.namespace, "-o", "json").stdout
    )["version"]
    if revision > 1:
        pytest.skip(
            f"revision {revision}: the first upgrade deleted the install Jobs "
            "(store down, then store up, to see them)"
        )
    completed = {}
    for name in INSTALL_JOBS:
        job = release.get("job", f"{release.name}-{name}-install")
        completed[name] = job["status"].get("completionTime")
        print(f"job {job['metadata']['name']:34} completed {completed[name]}")
        assert completed[name], f"the Job {name} has not completed (kubectl logs job/...)"
    done = {"db-migrate": completed["db-migrate"], "kafka-topic": topic_created_at(release)}
    print(f"topic created by the broker at {done['kafka-topic']}")
    early = []
    for job, components in INSTALL_JOBS.items():
        for component in components:
            for name, pod in release.pods(component).items():
                since = ready_since(pod)
                print(f"pod {name:34} Ready since {since} (after {job}: {since >= done[job]})")
                if since < done[job]:
                    early.append(f"{name} Ready at {since}, before {job}'s work at {done[job]}")
    assert not early, early


def test_both_api_pods_answer_through_the_node_port(release):
    """kube-proxy spreads new connections over the API pods; X-Served-By names the pod."""
    served = {
        requests.get(
            f"{release.base_url}/products/1", headers={"Connection": "close"}, timeout=10
        ).headers["X-Served-By"]
        for _ in range(20)
    }
    print(f"20 new connections answered by {sorted(served)}")
    assert served == set(release.pods("api")), (
        f"answered by {served}, pods {set(release.pods('api'))}"
    )


def test_both_db_service_pods_take_calls_and_kafka_has_this_runs_records(release):
    """Ten sign-ups, each with an X-Request-ID of this run: the API's channel spreads its
    calls over the dbsvc pods (round_robin over the headless Service's addresses), and
    dbsvc logs each write under the caller's request id with its own instance, its pod's
    name. The broker's console consumer, run in the Kafka pod, must show them all."""
    run = uuid.uuid4().hex[:10]
    markers = [f"k8s-{run}-{n}" for n in range(10)]
    for n, marker in enumerate(markers):
        answer = requests.post(
            f"{release.base_url}/users",
            json={"sid": f"K{run}{n}", "username": f"k8s_{run}_{n}", "password": "correct horse"},
            headers={"X-Request-ID": marker, "Connection": "close"},
            timeout=10,
        )
        assert answer.status_code == 201, f"{marker}: {answer.status_code} {answer.text}"
    topic = release.topic()
    # The kubelet's probes keep records coming, so the consumer never runs dry: it stops
    # on the timeout (exit status 124), once it has read the topic to its end.
    consumer = release.kubectl(
        "exec",
        f"{release.name}-kafka-0",
        "--",
        "timeout",
        "20",
        "kafka-console-consumer",
        "--bootstrap-server",
        "localhost:9092",
        "--topic",
        topic,
        "--from-beginning",
        "--property",
        "print.key=true",
        timeout=90,
        check=False,
    )
    records = {}
    for line in consumer.stdout.splitlines():
        _, _, value = line.partition("\t")
        if any(marker in value for marker in markers):
            print(line)
            record = json.loads(value)
            records.setdefault(record["request_id"], []).append(record)
    missing = [m for m in markers if m not in records]
    assert not missing, (
        f"no record in {topic} of {missing} (the consumer said: {consumer.stderr[-500:]})"
    )
    writers = {
        service: {r["instance"] for rs in records.values() for r in rs if r["service"] == service}
        for service in ("api", "db")
    }
    print(f"instances that wrote this run's records: {writers}")
    assert writers["db"] == set(release.pods("dbsvc")), (
        f"dbsvc pods that took calls: {writers['db']}"
    )
    assert writers["api"] == set(release.pods("api")), f"API pods that took calls: {writers['api']}"


def test_the_autoscaler_holds_the_api_at_its_minimum_and_says_why(release):
    """No metrics server here: the HPA reads no CPU figure, says so in its ScalingActive
    condition and leaves the API at minReplicas."""
    print("\n" + release.kubectl("get", "hpa").stdout)
    hpa = release.get("hpa", f"{release.name}-api")
    conditions = {c["type"]: c for c in hpa["status"].get("conditions", [])}
    active = conditions.get("ScalingActive", {})
    print(f"ScalingActive {active.get('status')} {active.get('reason')}: {active.get('message')}")
    assert hpa["spec"]["scaleTargetRef"]["name"] == f"{release.name}-api"
    if hpa["status"].get("currentMetrics"):
        return  # a metrics source is installed: it scales on what it reads
    assert active.get("reason") == "FailedGetResourceMetric", conditions
    assert hpa["status"]["desiredReplicas"] == hpa["spec"]["minReplicas"]

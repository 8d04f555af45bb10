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


def migrated_at(release):
    """When the newest migration was applied, from goose's own table, to the second: the
    moment the migrations' Job's work took effect. The Job's completionTime follows it by
    a second or more (goose exits, then the Job controller notices), while dbsvc turns
    Ready as soon as the schema has had the migrations it was built for, rightly."""
    # goose's tstamp is the session's time, UTC here (PostgreSQL's image and 00001).
    query = (
        'SELECT to_char(max(tstamp), \'YYYY-MM-DD"T"HH24:MI:SS"Z"\') '
        "FROM goose_db_version WHERE is_applied;"
    )
    psql = release.kubectl(
        "exec", "-i", f"{release.name}-postgres-0", "--",
        "sh", "-c", 'psql -U "$POSTGRES_USER" -d "$POSTGRES_DB" -tA', stdin=query,
    )  # fmt: skip
    stamp = psql.stdout.strip()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", stamp), psql.stdout
    return stamp


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
    components = {p["metadata"]["labels"].get("app.kubernetes.io/component") for p in servers}
    assert {"nginx", "api", "dbsvc", "logsvc"} <= components, components


def test_the_install_jobs_completed_before_the_services_they_prepare_became_ready(release):
    """dbsvc is ready only once the schema has had every migration it was built for,
    logsvc only once the topic has a leader, the API only once both answer: each became
    Ready after its Job's work was done (to the second): the newest migration applied,
    the topic created in the broker."""
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
    done = {"db-migrate": migrated_at(release), "kafka-topic": topic_created_at(release)}
    print(f"newest migration applied at {done['db-migrate']}")
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


def test_both_api_pods_answer_through_nginx(release):
    """The node port leads to NGINX, and NGINX to every API pod: kube-proxy spreads
    NGINX's connections to the API's Service over the pods; X-Served-By names the pod."""
    pods = set(release.pods("api"))
    served = release.answering_api_pods(pods)
    print(f"uncached reads through NGINX answered by {dict(served)}")
    assert set(served) == pods, f"answered by {dict(served)}, pods {pods}"


def signed_up_and_recorded(release, run):
    """Ten sign-ups with X-Request-IDs of this round, then what the broker's console
    consumer, run in the Kafka pod, has of them: {request id: [records]}."""
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
    return records


def test_both_db_service_pods_take_calls_and_kafka_has_this_runs_records(release):
    """Sign-ups with X-Request-IDs of this run: the broker's console consumer shows them
    all, and dbsvc logs each write under the caller's request id with its own instance, its
    pod's name. The API's channel spreads its calls over the dbsvc pods it resolved
    (round_robin over the headless Service's addresses); one that resolved the name while
    only one dbsvc pod was Ready finds the other when dbsvc closes the connection, at its
    maximum age (30 s, serving/server.go), and resolves the name again. So each round is
    25 s apart, and within three rounds every dbsvc pod has taken calls."""
    writers = {}
    for attempt in range(3):
        records = signed_up_and_recorded(release, f"{uuid.uuid4().hex[:8]}{attempt}")
        writers = {
            service: {
                r["instance"] for rs in records.values() for r in rs if r["service"] == service
            }
            for service in ("api", "db")
        }
        print(f"round {attempt + 1}: instances that wrote its records: {writers}")
        if writers["db"] == set(release.pods("dbsvc")):
            break
    assert writers["db"] == set(release.pods("dbsvc")), (
        f"dbsvc pods that took calls: {writers['db']}"
    )
    # Ten sign-ups in a row may all meet one API pod: NGINX sends them on the connection
    # it keeps (test_both_api_pods_answer_through_nginx asks for both).
    assert writers["api"] and writers["api"] <= set(release.pods("api")), writers["api"]


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

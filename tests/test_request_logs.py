"""One request, followed into Kafka: the API's record and the DB service's records carry
the request's X-Request-ID, so an administrator can see everything it caused."""

import uuid


def test_a_write_leaves_api_and_db_records_with_the_same_request_id(http, base_url, log_channel):
    request_id = f"trace-{uuid.uuid4().hex}"
    mark = log_channel.mark()
    answer = http.post(
        f"{base_url}/users",
        json={
            "sid": uuid.uuid4().hex[:15],
            "username": f"traced_{uuid.uuid4().hex[:10]}",
            "password": "long enough",
        },
        headers={"X-Request-ID": request_id},
    )
    assert answer.status_code == 201

    def mine(records):
        return [(key, value) for key, value in records if value.get("request_id") == request_id]

    def both_services(records):
        return {value["service"] for _, value in mine(records)} == {"api", "db"}

    found = mine(log_channel.records_since(mark, until=both_services, timeout=10))
    assert {value["service"] for _, value in found} == {"api", "db"}, found
    assert all(key == request_id for key, _ in found)
    db_record = next(value for _, value in found if value["service"] == "db")
    assert db_record["level"] == "INFO" and db_record["instance"] and db_record["message"]
    api_record = next(value for _, value in found if value["service"] == "api")
    assert (api_record["method"], api_record["path"], api_record["status"]) == (
        "POST",
        "/users",
        201,
    )


def test_an_authenticated_request_names_its_user(customer, log_channel):
    request_id = f"trace-{uuid.uuid4().hex}"
    mark = log_channel.mark()
    customer.request("GET", "/orders", headers={"X-Request-ID": request_id})

    def api_record(records):
        return [
            v for _, v in records if v.get("request_id") == request_id and v["service"] == "api"
        ]

    records = api_record(log_channel.records_since(mark, until=api_record, timeout=10))
    assert len(records) == 1 and records[0]["user_id"] == customer.id

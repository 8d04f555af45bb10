from merch_api import services


def greeting():
    return {"message": "Welcome to the SUSTech Merch Store! GET /products to see what we sell."}


def liveness():
    return {"status": "ok"}


def readiness():
    checks = services.current().health()
    failing = [name for name, status in checks.items() if status != "SERVING"]
    if failing:
        detail = ", ".join(f"{name} is {checks[name]}" for name in failing)
        return (
            {
                "type": "about:blank",
                "title": "Service Unavailable",
                "status": 503,
                "detail": f"not ready: {detail}; `make status` shows which process is down",
            },
            503,
            {"Content-Type": "application/problem+json"},
        )
    return {"status": "ok", "checks": checks}

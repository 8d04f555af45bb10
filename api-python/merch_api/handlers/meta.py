from merch_api.handlers import running
from merch_api.problems import unavailable


def greeting():
    return {"message": "Welcome to the SUSTech Merch Store! GET /products to see what we sell."}


def liveness():
    return {"status": "ok"}


def readiness():
    services = running()
    checks = services.health()
    failing = [name for name, status in checks.items() if status != "SERVING"]
    if failing:
        detail = ", ".join(f"{name} is {checks[name]}" for name in failing)
        raise unavailable(f"not ready: {detail}; `make status` shows which process is down")
    return {"status": "ok", "checks": checks, "log_shipper": services.log_shipper.stats()}

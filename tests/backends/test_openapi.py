"""The OpenAPI contracts and the application agree: every route of the app is documented and
every documented operation exists; each file is a well-formed OpenAPI 3 document."""

from pathlib import Path
from urllib.parse import urlsplit

import pytest

from backends.sandbox.app import SERVICES, create_app
from backends.sandbox.settings import SandboxSettings
from tests.backends.contract import iter_refs, operations, resolve, specs

pytestmark = pytest.mark.unit


def app_routes() -> set[tuple[str, str]]:
    app = create_app(Path("/nonexistent"), settings=SandboxSettings())  # building does no I/O
    found = set()
    for route in app.router.routes():
        if route.method in ("HEAD", "OPTIONS"):
            continue
        found.add((route.method, route.resource.canonical))
    return found


def test_every_route_is_in_a_contract_and_every_contract_route_exists():
    documented = {(op.method, op.path) for op in operations()}
    served = app_routes()
    assert served - documented == set(), "routes missing from backends/openapi/"
    assert documented - served == set(), "documented operations the app does not serve"


def test_one_contract_per_service_whose_server_path_is_the_service_prefix():
    by_path = {urlsplit(doc["servers"][0]["url"]).path: name for name, doc in specs().items()}
    for service in SERVICES:
        assert by_path.get(service.prefix) == f"{service.name}.yaml"
    assert "sandbox.yaml" in specs()


@pytest.mark.parametrize("name", sorted(specs()))
def test_contracts_are_well_formed(name):
    document = specs()[name]
    assert document["openapi"].startswith("3.")
    assert document["info"]["title"] and document["info"]["version"]
    for ref in iter_refs(document):
        assert resolve(document, {"$ref": ref}) is not None, ref
    for operation in (op for op in operations() if op.file == name):
        assert operation.spec.get("operationId"), operation.path
        assert operation.spec["responses"], operation.path
        for status in operation.spec["responses"]:
            assert status == "default" or 100 <= int(status) < 600
        path_params = {p.strip("{}") for p in operation.path.split("/") if p.startswith("{")}
        declared = {
            resolve(document, p)["name"]
            for p in operation.spec.get("parameters", [])
            if resolve(document, p)["in"] == "path"
        }
        assert path_params == declared, operation.path


def test_operation_ids_are_unique_within_a_contract():
    for name in specs():
        ids = [op.spec["operationId"] for op in operations() if op.file == name]
        assert len(ids) == len(set(ids)), name


def test_every_create_documents_its_idempotency_key():
    for operation in operations():
        if operation.method == "POST" and not operation.path.endswith("/cancel"):
            names = {resolve(operation.document, p)["name"]
                     for p in operation.spec.get("parameters", [])}
            assert "Idempotency-Key" in names, operation.path
            assert {"201", "409", "422"} <= set(operation.spec["responses"]), operation.path
